"""Long shots split into overlapping chunks computed independently, then joined back into one shot.

A chunk is computed exactly like a shot of its own (its first frame is its key frame), so chunks of one shot can
run in parallel (``core.cluster``). Joining them is an approximation of the sequential result: chunk k >= 1 is
aligned to the already joined chunk k-1 with the least-squares scale/shift rule the engine uses between windows
(``core.depth.stitch.fit_scale_shift``, here over all ``overlap`` shared frames; metric depth: no fit), clamped at
0 like an aligned window, and cross-faded over the shared frames (weight of the new chunk ``j / (overlap - 1)``).
A shot no longer than ``max_frames`` is one chunk and passes through unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from core.depth.stitch import apply_scale_shift, fit_scale_shift

__all__ = ["Chunk", "ChunkJoin", "split_shot"]

StagedFrame = tuple[np.ndarray, float, "np.ndarray | None"]  # depth float [H, W], pts (s), mask uint8 [H, W] or None


@dataclass(frozen=True)
class Chunk:
    """Pass frames ``[start, end)`` of the shot ``[shot_start, shot_end)``."""

    start: int
    end: int
    shot_start: int
    shot_end: int

    @property
    def first(self) -> bool:
        return self.start == self.shot_start

    @property
    def last(self) -> bool:
        return self.end == self.shot_end


def split_shot(start: int, end: int, max_frames: int | None, overlap: int) -> list[Chunk]:
    """The shot ``[start, end)`` as chunks of about equal length (at most ``max_frames``), each sharing ``overlap``
    frames with the one before; one chunk when the shot fits (or ``max_frames`` is None)."""
    length = end - start
    if max_frames is None or length <= max_frames:
        return [Chunk(start, end, start, end)]
    if not 0 < 2 * overlap < max_frames:
        raise ValueError(f"chunks of {max_frames} frames cannot overlap by {overlap}")
    n = math.ceil((length - overlap) / (max_frames - overlap))
    # chunk k starts ``step`` frames after chunk k-1: at most max_frames - overlap (no chunk is too long), and at
    # least ``overlap``, so that the frames a chunk shares with the one before and with the one after are distinct
    step = max(math.ceil((length - overlap) / n), overlap)
    n = math.ceil((length - overlap) / step)
    starts = [start + k * step for k in range(n)]
    return [Chunk(s, min(s + step + overlap, end) if k < n - 1 else end, start, end) for k, s in enumerate(starts)]


class ChunkJoin:
    """Joins the chunks of one shot, fed in order: ``frames(chunk, read)`` yields the shot's final
    ``(index, depth float32 [H, W], pts, mask)`` that the chunk completes; the last ``overlap`` frames of a chunk that
    is not its shot's last are held (aligned) until the next chunk arrives. ``read(i)`` gives a chunk's raw frame
    ``i``. Holds ``overlap`` frames, whatever the shot's length."""

    def __init__(self, overlap: int, metric: bool) -> None:
        self.overlap, self.metric = overlap, metric
        self._held: list[tuple[int, np.ndarray, float, np.ndarray | None]] = []
        self.fits: list[tuple[float, float]] = []  # (scale, shift) of every chunk after the first, for reports

    def frames(self, chunk: Chunk, read: Callable[[int], StagedFrame]) -> Iterator[tuple]:
        if chunk.first:
            self._held, scale, shift, begin = [], None, None, chunk.start
        else:
            scale, shift = self._fit(chunk, read)
            yield from self._blend(chunk, read, scale, shift)
            begin = chunk.start + self.overlap
        for i in range(begin, chunk.end):
            depth, pts, mask = read(i)
            if scale is not None:
                depth = apply_scale_shift(depth.astype(np.float32), scale, shift)
            if not chunk.last and i >= chunk.end - self.overlap:
                self._held.append((i, depth, pts, mask))
            else:
                yield i, depth, pts, mask

    def _fit(self, chunk: Chunk, read: Callable[[int], StagedFrame]) -> tuple[np.float32, np.float32]:
        if [h[0] for h in self._held] != list(range(chunk.start, chunk.start + self.overlap)):
            raise ValueError(f"chunk at frame {chunk.start} does not continue the chunk before it")
        if self.metric:
            return np.float32(1.0), np.float32(0.0)
        pred = np.concatenate([read(i)[0].astype(np.float32) for i in range(chunk.start, chunk.start + self.overlap)])
        target = np.concatenate([h[1].astype(np.float32) for h in self._held])
        scale, shift = fit_scale_shift(pred, target)
        self.fits.append((float(scale), float(shift)))
        return scale, shift

    def _blend(self, chunk: Chunk, read: Callable[[int], StagedFrame], scale: np.float32,
               shift: np.float32) -> Iterator[tuple]:
        held, self._held = self._held, []
        for j, (i, old, pts, old_mask) in enumerate(held):
            new, _, mask = read(i)
            w = np.float32(j / (self.overlap - 1)) if self.overlap > 1 else np.float32(1.0)
            depth = old.astype(np.float32) * (1 - w) + apply_scale_shift(new.astype(np.float32), scale, shift) * w
            if old_mask is not None and mask is not None:
                mask = np.bitwise_or(old_mask, mask)
            yield i, depth, pts, mask if mask is not None else old_mask
