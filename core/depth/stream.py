"""Streaming depth (VDA's online mode): one frame in, one depth frame out.

The encoder runs once per frame; the temporal head attends to the cached states of frame 0 and up to 41 recent
frames (``core.models.vda.stream_cache``) instead of a 32-frame window. The output is the network's own per-frame
depth (after ReLU) resized to the frame: no scale/shift alignment and no window stitching, so nothing waits for
later frames and the first depth frame is out after one network call. Memory is bounded by the cache, whatever
the stream's length.

Compared with the key-frame engine (``core.depth.engine``): lower latency and works on sources that never end,
but consistency rests on the cache alone (no overlap blending, no global alignment through the shot).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from core.depth.engine import VdaRunner
from core.errors import DepthshotError
from core.models.vda.stream_cache import StreamCache


class FrameSizeError(DepthshotError):
    """A frame of another size than the stream's first frame (the stream cannot continue)."""


class StreamDepth:
    """Depth of one stream (a shot, or a live source), frame by frame; start a new one to reset the state."""

    def __init__(self, runner: VdaRunner) -> None:
        self.runner = runner
        self.cache = StreamCache()
        self.size: tuple[int, int] | None = None  # (H, W) of the first frame: every later frame must match

    @property
    def frames(self) -> int:
        """Frames pushed so far."""
        return self.cache.frames

    def push(self, image: np.ndarray) -> np.ndarray:
        """Depth of the stream's next frame: uint8 RGB [H, W, 3] -> float32 [H, W] (raw network output).

        Raises ``FrameSizeError`` when the frame's size differs from the first frame's.
        """
        height, width = image.shape[:2]
        if self.size is None:
            self.size = (height, width)
        elif (height, width) != self.size:
            raise FrameSizeError(
                f"frame {self.frames} is {width}x{height}, the stream started at {self.size[1]}x{self.size[0]}"
            )
        features = self.runner.encode(image[None])
        return self.runner.window_depth(features, height, width, cache=self.cache)[0]

    def run(self, images: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """``push`` each image in turn, yielding its depth."""
        for image in images:
            yield self.push(image)

