"""Snippet construction and dilation capping against the reference's snippet_grid.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.depth.rollingdepth.snippets import (
    cap_dilation,
    effective_snippet_len,
    plan_dilations,
    refine_dilations,
    snippet_indices,
)

from .conftest import FIXTURES

GRID = json.loads((FIXTURES / "snippet_grid.json").read_text())


def _reference_like(seq_len: int, snippet_len: int, dilation: int, cap: bool) -> tuple[int, np.ndarray | None]:
    """Effective dilation and indices the reference functions give (None where the reference raises)."""
    d = cap_dilation(seq_len, snippet_len, dilation) if cap else dilation
    try:
        return d, snippet_indices(seq_len, snippet_len, d)
    except ValueError:
        return d, None


@pytest.mark.parametrize("case", GRID["initial_snippets"], ids=lambda c: "L{seq_len}-n{snippet_len}-d{dilation}-cap{cap_dilation}".format(**c))
def test_initial_snippets_match_reference(case):
    d, idx = _reference_like(case["seq_len"], case["snippet_len"], case["dilation"], case["cap_dilation"])
    assert d == case["effective_dilation"]
    if "error" in case:
        assert idx is None
        return
    assert idx is not None
    assert len(idx) == case["n_snippets"]
    assert np.array_equal(idx[:, 0], np.arange(len(idx)))  # snippet k starts at frame k
    assert set(np.diff(idx, axis=1).ravel()) == {case["frame_step"]}
    assert (np.unique(idx).size == case["seq_len"]) == case["covers_all_frames"]


@pytest.mark.parametrize("case", GRID["refinement_schedules"], ids=lambda c: "L{seq_len}-S{refine_step}-D{refine_start_dilation}-cap{cap_dilation}".format(**c))
def test_refinement_schedules_match_reference(case):
    L, n = case["seq_len"], case["refine_snippet_len"]
    start = cap_dilation(L, n, case["refine_start_dilation"]) if case["cap_dilation"] else case["refine_start_dilation"]
    assert start == case["effective_start_dilation"]
    for dilation, step in zip(refine_dilations(case["refine_step"], start), case["steps"], strict=True):
        if "error" in step:
            with pytest.raises(ValueError):
                snippet_indices(L, n, dilation)
        else:
            assert dilation == step["dilation"]
            assert len(snippet_indices(L, n, dilation)) == step["n_snippets"]


def test_paper_refinement_schedule():
    assert refine_dilations(10, 6) == [6, 5, 5, 4, 4, 3, 3, 2, 1, 1]


def test_fixture_indices_and_capping(coalign_fixture):
    assert cap_dilation(40, 3, 25) == 12
    for d in (1, 10, 12):
        assert np.array_equal(snippet_indices(40, 3, d), coalign_fixture[f"indices_d{d}"])


@pytest.mark.parametrize("seq_len", [40, 75, 78, 100, 300])
@pytest.mark.parametrize("cap", [True, False])
def test_plan_equals_reference_where_reference_works(seq_len, cap):
    planned = plan_dilations(seq_len, 3, [1, 10, 25], cap)
    expected = [cap_dilation(seq_len, 3, d) if cap else d for d in (1, 10, 25)]
    if all(seq_len - 2 * d >= 1 for d in expected):
        assert planned == list(dict.fromkeys(expected))


@pytest.mark.parametrize("seq_len", [1, 2, 3, 4, 5, 6, 17, 50])
@pytest.mark.parametrize("cap", [True, False])
def test_plan_handles_short_clips(seq_len, cap):
    n = effective_snippet_len(seq_len, 3)
    assert n == min(3, seq_len)
    planned = plan_dilations(seq_len, n, [1, 10, 25], cap)
    assert planned[0] == 1 and len(set(planned)) == len(planned)
    for d in planned:
        idx = snippet_indices(seq_len, n, d)
        assert idx.max() < seq_len
    assert np.unique(snippet_indices(seq_len, n, 1)).size == seq_len  # dilation 1 covers every frame


def test_plan_requires_dilation_one():
    with pytest.raises(ValueError):
        plan_dilations(40, 3, [10, 25], True)
