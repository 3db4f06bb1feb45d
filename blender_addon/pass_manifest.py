"""Read a depthshot depth pass manifest (``depth_pass.json``) without importing the core.

The add-on never imports ``core`` (that would pull torch into Blender), so it reads the on-disk contract
directly: the manifest plus one 16-bit PNG per frame, value ``v`` mapping to ``lo + v / 65535 * (hi - lo)``
with the frame's shot's ``lo``/``hi``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FORMAT_NAME = "depthshot-depth-pass"
FORMAT_VERSION = 1
MANIFEST_NAME = "depth_pass.json"
FRAME_DIR = "depth"
FRAME_DIGITS = 6


class PassError(Exception):
    """A depth pass that cannot be used (missing, not closed, malformed)."""


@dataclass(frozen=True)
class PassShot:
    """One shot of a pass: frames ``start`` .. ``end`` (exclusive) share the raw range ``lo`` .. ``hi``."""

    start: int
    end: int
    lo: float
    hi: float


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

    def frame_path(self, index: int) -> Path:
        """The 16-bit PNG of frame ``index`` (0-based)."""
        return self.path / FRAME_DIR / f"{index:0{FRAME_DIGITS}d}.png"

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
        shots = tuple(
            PassShot(int(s["start"]), int(s["end"]), float(s["lo"]), float(s["hi"])) for s in data["shots"]
        )
        return PassManifest(
            path=folder,
            kind=str(data["kind"]),
            width=int(data["width"]),
            height=int(data["height"]),
            fps=float(data["fps"]),
            frame_count=int(data["frame_count"]),
            shots=shots,
            intrinsics=data.get("intrinsics"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise PassError(f"{manifest} is malformed: {exc}") from exc
