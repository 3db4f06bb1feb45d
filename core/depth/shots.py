"""Shot (scene cut) detection with PySceneDetect's AdaptiveDetector, on frames at low resolution: over a whole
stream (``detect_cuts``) or as the frames go by (``flag_cuts``, in the decode pass that feeds a depth engine).

The adaptive detector compares each frame's content change with the average change of its neighbours, so fast
handheld camera motion (high change on every frame) is not taken for a cut; the plain ContentDetector at its
default threshold cut the bundled handheld TUM clip in the middle.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from core.video import Frame

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


class CutDetector:
    """PySceneDetect's AdaptiveDetector fed one small frame at a time (uint8 RGB [H, W, 3], e.g. 256 px wide).

    threshold: how many times a frame's content change must exceed the average change of the frames around it to
    start a new shot (AdaptiveDetector's adaptive threshold); min_shot_len: shortest shot in frames. A cut at frame
    ``i`` is reported once frame ``i + lag`` has been pushed (the detector averages ``lag`` frames either side).
    """

    def __init__(self, threshold: float = 3.0, min_shot_len: int = 15) -> None:
        from scenedetect.detectors import AdaptiveDetector  # only when cuts are detected: a heavy import

        self._detector = AdaptiveDetector(adaptive_threshold=threshold, min_scene_len=min_shot_len)
        self.lag: int = self._detector.event_buffer_length
        self.frames = 0  # frames pushed

    def push(self, rgb: np.ndarray) -> list[int]:
        """Add the next frame; the cuts found by it (first frames of new shots, at most ``lag`` frames back)."""
        found = self._detector.process_frame(self.frames, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
        self.frames += 1
        return self._valid(found)

    def finish(self) -> list[int]:
        """The cuts reported once the stream has ended."""
        return self._valid(self._detector.post_process(self.frames - 1) or []) if self.frames else []

    def _valid(self, found: list[int]) -> list[int]:
        return sorted(int(c) for c in found if 0 < c < self.frames)


def detect_cuts(frames: Iterable[np.ndarray], threshold: float = 3.0, min_shot_len: int = 15) -> ShotScan:
    """Find hard cuts in a stream of small frames (see ``CutDetector``); the frame count and the cut positions."""
    detector = CutDetector(threshold, min_shot_len)
    cuts: list[int] = []
    for rgb in frames:
        cuts += detector.push(rgb)
    cuts = sorted({*cuts, *detector.finish()})
    log.info("%d frames, %d shots", detector.frames, len(cuts) + 1)
    return ShotScan(frame_count=detector.frames, cuts=cuts)


def flag_cuts(frames: Iterable[Frame], size: tuple[int, int] | None,
              detector: CutDetector | None = None) -> Iterator[tuple[Frame, bool]]:
    """Each frame with whether a shot starts at it (a cut), found as the frames go by: ``detector`` (default
    ``CutDetector()``) sees each frame scaled to ``size`` (INTER_AREA; None: as it is), and a frame is yielded once
    the detector has seen the ``lag`` frames after it (or the stream has ended), so its flag is final."""
    detector = detector or CutDetector()
    held: deque[Frame] = deque()
    cuts: set[int] = set()
    given = 0  # frames yielded

    def note(found: list[int]) -> None:
        late = [c for c in found if c < given]
        if late:  # cannot be undone: the frame went to its shot already
            raise RuntimeError(f"cut at frame {late[0]} reported after the frame was handed on "
                               f"(the detector's lag is more than {detector.lag} frames)")
        cuts.update(found)

    for frame in frames:
        small = frame.image if size is None else cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA)
        note(detector.push(small))
        held.append(frame)
        while len(held) > detector.lag:
            yield held.popleft(), given in cuts
            given += 1
    note(detector.finish())
    while held:
        yield held.popleft(), given in cuts
        given += 1
    log.info("%d frames, %d shots", given, len(cuts) + 1)


def scan_size(width: int, height: int, target: int = 256) -> tuple[int, int] | None:
    """A small (w, h) to decode at for cut detection, or None when the video is already that small."""
    if max(width, height) <= target:
        return None
    s = target / max(width, height)
    return max(2, round(width * s / 2) * 2), max(2, round(height * s / 2) * 2)
