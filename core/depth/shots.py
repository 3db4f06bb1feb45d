"""Shot (scene cut) detection with PySceneDetect's AdaptiveDetector, on frames decoded at low resolution.

The adaptive detector compares each frame's content change with the average change of its neighbours, so fast
handheld camera motion (high change on every frame) is not taken for a cut; the plain ContentDetector at its
default threshold cut the bundled handheld TUM clip in the middle.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShotScan:
    """Result of a pass over the video: the number of frames, the first frame of every shot but the first and
    (from a job's scan) every frame's pts in seconds."""

    frame_count: int
    cuts: list[int]
    timestamps: list[float] | None = None

    def bounds(self) -> list[tuple[int, int]]:
        """Shots as ``(start, end)`` frame ranges, end exclusive."""
        starts = [0, *self.cuts]
        return list(zip(starts, [*self.cuts, self.frame_count]))


def detect_cuts(frames: Iterable[np.ndarray], threshold: float = 3.0, min_shot_len: int = 15) -> ShotScan:
    """Find hard cuts in a stream of frames (uint8 RGB [H, W, 3], a small size is enough, e.g. 256 px wide).

    threshold: how many times a frame's content change must exceed the average change of the frames around it to
    start a new shot (AdaptiveDetector's adaptive threshold); min_shot_len: shortest shot in frames.
    Returns the frame count and the cut positions.
    """
    from scenedetect.detectors import AdaptiveDetector  # only when cuts are detected: a heavy import

    detector = AdaptiveDetector(adaptive_threshold=threshold, min_scene_len=min_shot_len)
    cuts: list[int] = []
    n = 0
    for n, rgb in enumerate(frames, start=1):
        cuts += detector.process_frame(n - 1, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if n:
        cuts += detector.post_process(n - 1) or []
    cuts = sorted({int(c) for c in cuts if 0 < c < n})
    log.info("%d frames, %d shots", n, len(cuts) + 1)
    return ShotScan(frame_count=n, cuts=cuts)


def scan_size(width: int, height: int, target: int = 256) -> tuple[int, int] | None:
    """A small (w, h) to decode at for cut detection, or None when the video is already that small."""
    if max(width, height) <= target:
        return None
    s = target / max(width, height)
    return max(2, round(width * s / 2) * 2), max(2, round(height * s / 2) * 2)
