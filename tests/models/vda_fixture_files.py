"""Paths and comparison rules of the VDA fixtures beside the checkout (shared by the model tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.shared_data import VDA_FIXTURES


def layout_path(encoder: str) -> Path:
    return VDA_FIXTURES / f"layout_{encoder}.json"


def load_layout(encoder: str) -> dict:
    return json.loads(layout_path(encoder).read_text())


def assert_close_to_reference(got: np.ndarray, ref: np.ndarray) -> None:
    """The fixture README's forward rule: max |d| <= 5e-5 * range and mean |d| <= 5e-6 * range."""
    assert got.shape == ref.shape
    value_range = float(ref.max() - ref.min())
    diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    assert diff.max() <= 5e-5 * value_range, f"max |diff| {diff.max():.3g} > 5e-5 * range {value_range:.3g}"
    assert diff.mean() <= 5e-6 * value_range, f"mean |diff| {diff.mean():.3g} > 5e-6 * range {value_range:.3g}"
