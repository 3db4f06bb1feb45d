"""Snippet construction: which frames each snippet shows, dilation capping, refinement schedules.

A snippet of length ``n`` and dilation ``d`` starting at frame ``k`` shows frames ``k, k+d, ..., k+(n-1)d``;
snippets start at every frame (stride 1) as long as they fit, without padding or wrap-around.
:func:`snippet_indices`, :func:`cap_dilation` and :func:`refine_dilations` follow the reference exactly
(they raise where it fails); :func:`plan_dilations` and :func:`feasible_dilation` are the pipeline's
extension that makes every clip length work, changing only the cases where the reference fails.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def snippet_indices(seq_len: int, snippet_len: int, dilation: int) -> np.ndarray:
    """Frame indices of all stride-1 snippets, ``[seq_len - (snippet_len-1)*dilation, snippet_len]`` int64.

    Raises ``ValueError`` when the dilation is < 1 or no snippet fits in the clip.
    """
    if dilation < 1 or snippet_len < 1:
        raise ValueError(f"dilation and snippet length must be >= 1, got {dilation}, {snippet_len}")
    count = seq_len - (snippet_len - 1) * dilation
    if count < 1:
        raise ValueError(
            f"no snippet of length {snippet_len} with dilation {dilation} fits in {seq_len} frames"
        )
    return np.arange(count, dtype=np.int64)[:, None] + dilation * np.arange(snippet_len, dtype=np.int64)


def cap_dilation(seq_len: int, snippet_len: int, dilation: int) -> int:
    """The reference's dilation cap: ``min(dilation, int(seq_len / snippet_len) - 1)`` (may be <= 0)."""
    return min(dilation, int(seq_len / snippet_len) - 1)


def refine_dilations(steps: int, start_dilation: int) -> list[int]:
    """Dilation of each refinement step, shrinking from ``start_dilation`` to 1 (float64 like the reference).

    ``refine_dilations(10, 6) == [6, 5, 5, 4, 4, 3, 3, 2, 1, 1]``.
    """
    return [int((1 - i / steps) * (start_dilation - 1)) + 1 for i in range(steps)]


def feasible_dilation(seq_len: int, snippet_len: int, dilation: int) -> int:
    """``dilation`` clamped to [1, the largest value for which at least one snippet fits]."""
    if snippet_len <= 1:
        return 1
    return max(1, min(dilation, (seq_len - 1) // (snippet_len - 1)))


def effective_snippet_len(seq_len: int, snippet_len: int) -> int:
    """The snippet length used for a clip: ``snippet_len``, or the clip length when the clip is shorter."""
    if seq_len < 1:
        raise ValueError("a clip needs at least one frame")
    return min(snippet_len, seq_len)


def plan_dilations(seq_len: int, snippet_len: int, dilations: list[int], cap: bool) -> list[int]:
    """Effective dilations for a clip: capped like the reference when ``cap``, made feasible, de-duplicated.

    Equals the reference wherever the reference succeeds; very short clips (the reference fails under
    6 frames with capping, and under ``(n-1)*d+1`` frames without) fall back to the largest dilation
    that still gives a snippet. ``snippet_len`` is the effective one (:func:`effective_snippet_len`).
    """
    if 1 not in dilations:
        raise ValueError(f"dilations must contain 1, got {dilations}")
    planned: list[int] = []
    for requested in dilations:
        d = cap_dilation(seq_len, snippet_len, requested) if cap else requested
        d = feasible_dilation(seq_len, snippet_len, d)
        if d != requested:
            log.debug("dilation %d -> %d for %d frames", requested, d, seq_len)
        if d not in planned:
            planned.append(d)
    return planned


def frame_observations(indices: list[np.ndarray], seq_len: int) -> list[list[tuple[int, int, int]]]:
    """For every frame, the ``(group, snippet, position)`` triples of the snippets that show it."""
    seen: list[list[tuple[int, int, int]]] = [[] for _ in range(seq_len)]
    for g, idx in enumerate(indices):
        for k, row in enumerate(idx):
            for j, frame in enumerate(row):
                seen[int(frame)].append((g, k, j))
    return seen
