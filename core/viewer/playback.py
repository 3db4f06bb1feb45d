"""Playback state of a frame sequence: play/pause, step, loop, speed. Pure logic, no window."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import DepthshotError

SPEEDS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Playback speed steps (multiples of the sequence frame rate)."""


@dataclass
class Playback:
    """Which frame to show at which time. ``fps``: the sequence's frame rate; ``speed``: a multiple of it."""

    frame_count: int
    fps: float = 10.0
    position: int = 0
    playing: bool = True
    loop: bool = True
    speed: float = 1.0
    _clock: float = 0.0  # seconds of playback accumulated since the current frame was shown

    def __post_init__(self) -> None:
        if self.frame_count < 1:
            raise DepthshotError("nothing to play: the sequence has no frames")
        if not (self.fps > 0 and self.speed > 0):
            raise DepthshotError(f"frame rate and speed must be positive, got {self.fps} and {self.speed}")

    def toggle(self) -> None:
        """Play/pause."""
        self.playing = not self.playing
        self._clock = 0.0

    def step(self, frames: int) -> None:
        """Pause and move ``frames`` forward (negative: back), wrapping if looping, else stopping at the ends."""
        self.playing = False
        self._move(frames)

    def faster(self) -> None:
        """Next speed step up."""
        self.speed = next((s for s in SPEEDS if s > self.speed), self.speed)

    def slower(self) -> None:
        """Next speed step down."""
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), self.speed)

    def advance(self, seconds: float) -> bool:
        """Let ``seconds`` of wall time pass; returns True when the frame to show changed. At the end of the
        sequence playback wraps (``loop``) or pauses on the last frame."""
        if not self.playing:
            return False
        self._clock += seconds * self.speed * self.fps
        frames = int(self._clock)
        if frames == 0:
            return False
        self._clock -= frames
        before = self.position
        self._move(frames)
        if not self.loop and self.position == self.frame_count - 1:
            self.playing = False
        return self.position != before

    def _move(self, frames: int) -> None:
        if self.loop:
            self.position = (self.position + frames) % self.frame_count
        else:
            self.position = min(max(self.position + frames, 0), self.frame_count - 1)
