"""Frames for the geometry commands: a depth pass's depth, paired with its source video's colours, streamed.

Every consumer of depth reads it through ``core.depth.depth_pass.DepthPass``; this module adds the camera and
colours. One frame is in memory at a time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.depth.depth_pass import EMPTY, FILLED, MANIFEST, UNRELIABLE, DepthPass
from core.errors import DepthshotError
from core.geometry.camera import DepthRange, Intrinsics, raw_to_depth, resolve_intrinsics
from core.video import read_frames

@dataclass(frozen=True)
class CameraOptions:
    """How to pick the intrinsics (see :func:`core.geometry.camera.resolve_intrinsics`) and, for relative depth,
    the depth range. ``None`` everywhere: the pass's intrinsics when it has them, else the default field of view."""

    fov_deg: float | None = None
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None
    depth_range: DepthRange = field(default_factory=DepthRange)

    def intrinsics(self, dp: DepthPass) -> Intrinsics:
        """The intrinsics for the pass's ``width x height`` frames."""
        return resolve_intrinsics(
            dp.info.width,
            dp.info.height,
            fov_deg=self.fov_deg,
            fx=self.fx,
            fy=self.fy,
            cx=self.cx,
            cy=self.cy,
            known=dp.info.intrinsics,
        )


@dataclass
class GeometryFrame:
    """One frame ready for unprojection: ``depth`` (H, W) float32 along the optical axis (scene units; metres for
    metric passes; NaN = none, which includes the pixels the pass's mask flags unless they were kept),
    ``image`` (H, W, 3) uint8 RGB of the source at the same time, ``intrinsics``, and ``flags`` (H, W) uint8, the
    pass's validity mask (see :mod:`core.depth.depth_pass`)."""

    index: int
    pts: float
    depth: np.ndarray
    image: np.ndarray
    intrinsics: Intrinsics
    flags: np.ndarray | None = None
    pose: np.ndarray | None = None  # world-from-camera 4x4 (OpenCV axes) when writing in world space

    @property
    def unmeasured(self) -> np.ndarray | None:
        """bool (H, W): pixels with depth that was filled or is unreliable (only there with ``keep_filled``)."""
        if self.flags is None:
            return None
        return ((self.flags & (FILLED | UNRELIABLE)) != 0) & (self.depth > 0)


def masked_depth(depth: np.ndarray, flags: np.ndarray, keep_filled: bool = False) -> np.ndarray:
    """``depth`` (H, W) with NaN where the validity ``flags`` (H, W) uint8 say there is no measured value:
    every flagged pixel, or with ``keep_filled`` only the ``EMPTY`` ones (filled values are then kept)."""
    drop = EMPTY if keep_filled else EMPTY | FILLED | UNRELIABLE
    out = depth.copy()
    out[(flags & drop) != 0] = np.nan
    return out


_RANGE = re.compile(r"^(\d+)(-(\d*))?(?::(\d+))?$")


def parse_frames(spec: str | None, count: int) -> list[int]:
    """Frame selection ``"0-99:5,120,200-"``-style (comma-separated ``N``, ``A-B`` inclusive, ``A-`` to the end,
    each with an optional ``:STEP``) -> sorted unique indices below ``count``. ``None`` or ``""``: every frame."""
    if not spec:
        return list(range(count))
    chosen: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        m = _RANGE.match(part)
        if not m:
            raise DepthshotError(f"bad frame selection {part!r} (use e.g. 0-99, 120, 200-, 0-99:5)")
        first = int(m.group(1))
        last = first if m.group(2) is None else int(m.group(3) or count - 1)
        step = int(m.group(4) or 1)
        if last < first or step < 1:
            raise DepthshotError(f"bad frame selection {part!r}: empty range")
        if first >= count:
            raise DepthshotError(f"frame {first} is outside the depth pass (0..{count - 1})")
        chosen.update(range(first, min(last, count - 1) + 1, step))
    return sorted(chosen)


def is_depth_pass(path: str | os.PathLike[str]) -> bool:
    """True for a folder holding ``depth_pass.json`` (or that file itself)."""
    p = Path(path)
    return p.name == MANIFEST and p.is_file() or (p / MANIFEST).is_file()


def _runs(indices: Sequence[int]) -> Iterator[list[int]]:
    """Split sorted indices into runs of consecutive numbers."""
    run: list[int] = []
    for i in indices:
        if run and i != run[-1] + 1:
            yield run
            run = []
        run.append(i)
    if run:
        yield run


def iter_frames(
    dp: DepthPass, indices: Sequence[int], camera: CameraOptions = CameraOptions(), keep_filled: bool = False
) -> Iterator[GeometryFrame]:
    """Yield the frames ``indices`` (sorted) of ``dp`` with depth converted and colours from the pass's source
    video (read at the pass's size and matched by presentation time, half a frame period tolerance). Pixels
    the pass's mask flags get NaN depth (see :func:`masked_depth`; ``keep_filled`` keeps filled values).

    The source video and the camera options are checked when this is called, before any frame is read.
    """
    source = dp.source_path()
    if source is None:
        raise DepthshotError(f"{dp.root}: the depth pass names no source video to take colours from")
    if not source.is_file():
        raise DepthshotError(f"{dp.root}: its source video {source} is missing")
    return _frames(dp, source, indices, camera.intrinsics(dp), camera.depth_range, keep_filled)


def _frames(
    dp: DepthPass, source: Path, indices: Sequence[int], k: Intrinsics, depth_range: DepthRange, keep_filled: bool
) -> Iterator[GeometryFrame]:
    info = dp.info
    tol = dp.time_tolerance  # read a little around the run: the first and last frames may be early or late
    for run in _runs(indices):
        first_t, last_t = info.timestamps[run[0]], info.timestamps[run[-1]]
        video = read_frames(source, start=max(0.0, first_t - tol), end=last_t + tol, size=(info.width, info.height))
        pending = iter(run)
        i = next(pending)
        for frame in video:
            t = info.timestamps[i]
            j = dp.index_at(frame.pts)
            if j != i:
                if frame.pts < t and (j is None or j < i):  # a video frame before depth frame i
                    continue
                raise DepthshotError(f"{source}: no video frame at t={t:.3f}s for depth frame {i}")
            shot = dp.shot_of(i)
            flags = dp.read_mask(i)
            depth = masked_depth(raw_to_depth(dp.read(i), info.kind, shot.lo, shot.hi, depth_range), flags, keep_filled)
            yield GeometryFrame(i, t, depth, frame.image, k, flags)
            i = next(pending, -1)
            if i < 0:
                break
        else:
            raise DepthshotError(f"{source}: the video ends before depth frame {i} (t={info.timestamps[i]:.3f}s)")
        video.close()
