"""``vda-stream``: Video Depth Anything's online mode (``core.depth.stream``), frame in -> depth frame out.

The same checkpoints as ``vda``; each shot is a new stream (the cache starts empty at every cut). Resume restarts
the open shot: its frames are computed again from the shot's first frame (to the same bytes) and the staged ones
rewritten; the cache (up to 42 states per temporal layer, hundreds of MB at full resolution) is never persisted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.depth.depth_pass import DepthPassWriter
from core.depth.engines.base import ShotInput
from core.depth.engines.vda import LoadedVda, VdaEngine
from core.errors import DepthshotError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VdaStreamConfig:
    """``model``: checkpoint id (vda-s, vda-b, vda-l, and their -metric variants); ``weights``: a checkpoint file
    instead of the hub's; ``input_size``: network input short side in pixels (multiple of 14); ``precision``: auto
    (bf16/fp16 autocast on a GPU, fp32 on the CPU), fp32, fp16 or bf16."""

    model: str = "vda-l"
    weights: Path | None = None
    input_size: int = 518
    precision: str = "auto"


class LoadedVdaStream(LoadedVda):
    """VDA weights on one device, ready to stream shots."""

    @staticmethod
    def runner_options(config: VdaStreamConfig) -> dict[str, Any]:
        # one frame per call: batch sizes are 1 (no memory-based choice, same bits on every machine)
        return {"encode_batch": 1, "decode_chunk": 1}

    def run_shot(self, shot: ShotInput, writer: DepthPassWriter, on_frame: Callable[[int], None]) -> None:
        """Depth of one shot into ``writer``, frame by frame; an open shot is restarted from its first frame."""
        from core.depth.stream import StreamDepth

        if writer.current_shot_start == shot.start:
            log.info("vda-stream: restarting the open shot at frame %d", shot.start)
        writer.begin_shot(shot.start)
        stream = StreamDepth(self.runner)
        for i, frame in enumerate(shot.frames(shot.start), start=shot.start):
            writer.write(i, stream.push(frame.image), frame.pts)
            on_frame(i)
        if stream.frames == 0:
            raise DepthshotError(f"no frames to compute depth for from frame {shot.start} (empty --start/--end window?)")
        writer.end_shot()


class VdaStreamEngine(VdaEngine):
    """The ``vda-stream`` engine: ``vda``'s checks and depth kind, its own run (see the module docstring)."""

    name = "vda-stream"
    config_type = VdaStreamConfig
    needs_shot_length = False
    loaded_type = LoadedVdaStream

    def options_record(self, config: VdaStreamConfig) -> dict[str, Any]:
        return {}  # no compile option: one frame per call


ENGINE = VdaStreamEngine()
