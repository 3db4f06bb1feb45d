"""Read a depthshot depth pass manifest (``depth_pass.json``) without importing the core.

The add-on never imports ``core`` (that would pull torch into Blender), so it reads the on-disk contract
directly: the manifest plus one 16-bit PNG per frame (named by the manifest's ``frame_pattern``; ``encoding`` must
be ``png16``), value ``v`` mapping to ``lo + v / 65535 * (hi - lo)`` with the frame's shot's ``lo``/``hi``.
"""

from __future__ import annotations

import json
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
        )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise PassError(f"{manifest} is malformed: {exc!r}") from None
