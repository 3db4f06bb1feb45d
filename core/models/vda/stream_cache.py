"""State of VDA's streaming mode: per temporal attention layer, the cached input states of earlier frames.

In streaming mode the network sees one frame at a time. Each temporal attention layer keeps, per frame it has
seen, its input hidden state (after the block's LayerNorm, before the position table), shape (S, 1, C) with
S = batch * spatial locations. For a new frame it attends to 31 of them plus the current frame (last, position 31):

* the first frame runs alone (T = 1); its state is then entered 32 times, as if a window of frame 0 had been seen;
* the list always keeps entry 0 (frame 0, for the whole stream) and, once it holds more than 42 states, drops its
  second entry after each frame, so it holds frame 0 plus the 41 most recent frames (memory is bounded);
* a frame attends to entries ``[0:2] + [-29:]``: from frame 42 on, frames 0, k-41 and k-29 .. k-1.

A cache is tied to one stream (one shot, one frame size); start a new ``StreamCache`` to reset it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

WINDOW = 32  # positions of the temporal position table: 31 cached states + the current frame
KEEP = 42  # states kept per layer: frame 0 and the 41 most recent frames
_HEAD = 2  # first entries attended to (frame 0 and the oldest kept frame)
_TAIL = WINDOW - 1 - _HEAD  # most recent entries attended to


@dataclass
class LayerCache:
    """Cached input states of one temporal attention layer, with the stream frame index of each entry."""

    states: list[torch.Tensor] = field(default_factory=list)  # each (S, 1, C)
    frame_ids: list[int] = field(default_factory=list)
    seen: int = 0  # frames entered so far (the next frame's index in the stream)

    def context(self) -> list[torch.Tensor]:
        """The cached states the next frame attends to, oldest first (empty before the first frame)."""
        if not self.states:
            return []
        return self.states[:_HEAD] + self.states[-_TAIL:]

    def context_ids(self) -> list[int]:
        """Stream frame indices of ``context()``."""
        if not self.frame_ids:
            return []
        return self.frame_ids[:_HEAD] + self.frame_ids[-_TAIL:]

    def append(self, state: torch.Tensor) -> None:
        """Enter the current frame's state (S, 1, C); the first one fills the whole window."""
        frame_id, self.seen = self.seen, self.seen + 1
        if not self.states:
            self.states = [state] * WINDOW  # one tensor referenced 32 times, not 32 copies
            self.frame_ids = [frame_id] * WINDOW
            return
        self.states.append(state)
        self.frame_ids.append(frame_id)
        if len(self.states) > KEEP:
            del self.states[1], self.frame_ids[1]


@dataclass
class StreamCache:
    """The streaming state of a whole network: one ``LayerCache`` per temporal attention layer, in head order.

    Pass the same object to every ``decode(..., cache=...)`` call of a stream, one frame per call.
    """

    layers: list[LayerCache] = field(default_factory=list)

    @property
    def frames(self) -> int:
        """Frames the stream has seen."""
        return self.layers[0].seen if self.layers else 0

    def layer(self, index: int) -> LayerCache:
        """Cache of the ``index``-th temporal attention layer of the head (created on first use)."""
        while len(self.layers) <= index:
            self.layers.append(LayerCache())
        return self.layers[index]

    def attended_frame_ids(self) -> list[list[int]]:
        """For each layer, the stream frame indices the next frame will attend to (before the current frame)."""
        return [layer.context_ids() for layer in self.layers]

    def nbytes(self) -> int:
        """Memory held by the cached states (each distinct tensor once)."""
        seen = {id(t): t for layer in self.layers for t in layer.states}
        return sum(t.numel() * t.element_size() for t in seen.values())
