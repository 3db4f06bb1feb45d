"""Read a depthshot depth pass manifest (``depth_pass.json``) without importing the core.

The add-on never imports ``core`` (that would pull torch into Blender), so it reads the on-disk contract
directly: the manifest plus one 16-bit PNG per frame (named by the manifest's ``frame_pattern``; ``encoding`` must
be ``png16``), value ``v`` mapping to ``lo + v / 65535 * (hi - lo)`` with the frame's shot's ``lo``/``hi``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

FORMAT_NAME = "depthshot-depth-pass"
FORMAT_VERSION = 1
MANIFEST_NAME = "depth_pass.json"
ENCODING = "png16"  # the only frame encoding this add-on reads
DEFAULT_FRAME_PATTERN = "depth/{index:06d}.png"


class PassError(Exception):
    """A depth pass that cannot be used (missing, not closed, malformed)."""


@dataclass(frozen=True)
class PassShot:
    """One shot of a pass: frames ``start`` .. ``end`` (exclusive) share the raw range ``lo`` .. ``hi``."""

    start: int
    end: int
    lo: float
    hi: float
    p2: float  # robust range: 2nd and 98th percentiles of the shot's raw values
    p98: float


@dataclass(frozen=True)
class PassPoses:
    """The camera poses a pass records (``python -m core.poses``): per frame the Blender camera object's
    ``matrix_world`` in a z-up world (16 numbers, row-major; the camera looks down its -z, y up) and whether
    tracking held there (``valid``). ``near``/``ratio``: for relative passes, the depth mapping the translations are
    measured in (the nearest point of a shot at ``near``, the farthest at ``near * ratio``); None for metric poses."""

    matrices: tuple[tuple[float, ...], ...]
    valid: tuple[bool, ...]
    source: str
    shots: tuple[tuple[int, int], ...] = ()  # (start, end) per shot: each its own world; () = one shot
    near: float | None = None
    ratio: float | None = None
    file: str | None = None  # the trajectory file the poses were written to (or imported from), when recorded

    @property
    def flagged(self) -> list[int]:
        """Frames whose pose is a prediction (tracking failed there)."""
        return [i for i, ok in enumerate(self.valid) if not ok]

    def held(self) -> list[tuple[float, ...]]:
        """The matrix per frame, each flagged frame holding the last valid pose of its shot before it (the shot's
        first valid one for flagged frames at its start); a shot without a valid frame keeps what was recorded."""
        out = list(self.matrices)
        for start, end in self.shots or ((0, len(out)),):
            first = next((i for i in range(start, end) if self.valid[i]), None)
            if first is None:
                continue
            last = self.matrices[first]
            for i in range(start, end):
                last = self.matrices[i] if self.valid[i] else last
                out[i] = last
        return out


# core.geometry.poses.pose_units writes the relative mapping into the record's "units" line
_UNITS_NEAR = re.compile(r"near=([-+0-9.eE]+)")
_UNITS_RATIO = re.compile(r"near x ([-+0-9.eE]+)")


def read_poses(record: dict, frame_count: int, kind: str) -> PassPoses:
    """The ``poses`` record of a manifest as ``PassPoses``; ``ValueError``/``KeyError`` when malformed."""
    frames = record["frames"]
    if len(frames) != frame_count:
        raise ValueError(f"{len(frames)} poses for {frame_count} frames")
    matrices = tuple(tuple(float(v) for v in f["blender_matrix_world"]) for f in frames)
    if any(len(m) != 16 for m in matrices):
        raise ValueError("a blender_matrix_world is not 16 numbers")
    near = ratio = None
    if kind != "metric_depth":
        units = str(record.get("units", ""))
        n, r = _UNITS_NEAR.search(units), _UNITS_RATIO.search(units)
        near, ratio = (float(n.group(1)), float(r.group(1))) if n and r else (1.0, 10.0)  # core's defaults
    shots = tuple((int(x["start"]), min(int(x["end"]), frame_count)) for x in record.get("shots") or ())
    file = record.get("file")
    return PassPoses(matrices, tuple(bool(f["valid"]) for f in frames), str(record.get("source", "")), shots,
                     near, ratio, str(file) if file else None)


@dataclass(frozen=True)
class PassManifest:
    """What the scene builders need from a depth pass."""

    path: Path
    kind: str
    width: int
    height: int
    fps: float
    frame_count: int
    shots: tuple[PassShot, ...]
    intrinsics: dict | None
    frame_pattern: str = DEFAULT_FRAME_PATTERN
    poses: PassPoses | None = None  # camera poses per frame, when the pass records them
    start_s: float | None = None  # source time of frame 0 when the pass was computed from a time window (seconds)

    def frame_path(self, index: int) -> Path:
        """The 16-bit PNG of frame ``index`` (0-based)."""
        return self.path / self.frame_pattern.format(index=index)

    def missing_frames(self) -> list[int]:
        """Indices of frames whose file is not there (a pass copied in part, or frames deleted)."""
        return [i for i in range(self.frame_count) if not self.frame_path(i).is_file()]

    def depth_range(self) -> tuple[float, float]:
        """Robust raw ``(low, high)`` over the whole pass: the lowest 2nd and highest 98th shot percentile."""
        return min(s.p2 for s in self.shots), max(s.p98 for s in self.shots)

    def frame_ranges(self) -> list[tuple[float, float]]:
        """Per-frame raw ``(lo, hi)``, length ``frame_count``."""
        ranges = [(0.0, 1.0)] * self.frame_count
        for shot in self.shots:
            for i in range(shot.start, min(shot.end, self.frame_count)):
                ranges[i] = (shot.lo, shot.hi)
        return ranges


def _start_seconds(model: dict) -> float | None:
    start = model.get("start")
    return float(start) if isinstance(start, (int, float)) and not isinstance(start, bool) else None


def read_manifest(path: str | Path) -> PassManifest:
    """Load the manifest of the pass folder ``path``; raise ``PassError`` with a one-line reason."""
    folder = Path(path)
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        raise PassError(f"{folder} is not a finished depth pass (no {MANIFEST_NAME})")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT_NAME or int(data.get("version", 0)) > FORMAT_VERSION:
            raise PassError(f"{manifest} is not a depth pass this add-on reads (format version {FORMAT_VERSION})")
        encoding = data.get("encoding", ENCODING)
        if encoding != ENCODING:
            raise PassError(f"{manifest}: frames are encoded as {encoding!r}; this add-on reads {ENCODING!r} passes")
        pattern = str(data.get("frame_pattern", DEFAULT_FRAME_PATTERN))
        pattern.format(index=0)  # a malformed pattern fails here (ValueError/KeyError), not at the first frame
        shots = tuple(
            PassShot(int(s["start"]), int(s["end"]), float(s["lo"]), float(s["hi"]),
                     float(s.get("p2", s["lo"])), float(s.get("p98", s["hi"])))
            for s in data["shots"]
        )
        if not shots:
            raise PassError(f"{manifest}: the pass has no shots")
        return PassManifest(
            path=folder,
            kind=str(data["kind"]),
            width=int(data["width"]),
            height=int(data["height"]),
            fps=float(data["fps"]),
            frame_count=int(data["frame_count"]),
            shots=shots,
            intrinsics=data.get("intrinsics"),
            frame_pattern=pattern,
            start_s=_start_seconds(data.get("model") or {}),
            poses=read_poses(data["poses"], int(data["frame_count"]), str(data["kind"])) if data.get("poses") else None,
        )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise PassError(f"{manifest} is malformed: {exc!r}") from None
