"""``rollingdepth``: RollingDepth (``core.depth.rollingdepth``) over whole shots; resumes at shot boundaries.

The pipeline co-aligns every snippet of a shot at once, so it needs the shot's frame count before it starts and
re-runs an interrupted shot from its first frame (finished shots are kept).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.depth.depth_pass import DepthPassWriter
from core.depth.engines.base import ShotInput, check_precision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RollingDepthConfig:
    """``preset``: fast, fast1024, full or paper; ``weights``: a local checkpoint folder (diffusers layout) instead of
    the hub's; ``precision``: fp32, fp16 or bf16 (None: the preset's, which is fp32 on a CPU)."""

    preset: str = "fast"
    weights: Path | None = None
    precision: str | None = None


def run_precision(config: RollingDepthConfig, device: str) -> str:
    """The precision the model will run at on ``device``: the chosen one, else the preset's (fp32 on a CPU)."""
    if config.precision not in (None, "auto"):
        return config.precision
    from core.depth.rollingdepth.presets import get_preset

    preset = get_preset(config.preset).precision
    return "fp32" if str(device).startswith("cpu") else preset


class RollingDepthEngine:
    """The ``rollingdepth`` engine (see ``core.depth.engines.base`` for the protocol)."""

    name = "rollingdepth"
    config_type = RollingDepthConfig
    needs_shot_length = True

    def check(self, config: RollingDepthConfig) -> None:
        from core.depth.rollingdepth.presets import get_preset
        from core.extras import require

        require("rollingdepth", "the rollingdepth engine")
        get_preset(config.preset)
        check_precision(config.precision)

    def kind(self, config: RollingDepthConfig) -> str:
        return "relative_inverse_depth"

    def fingerprint(self, config: RollingDepthConfig, device: str) -> dict[str, Any]:
        return {"engine": self.name, "id": "rollingdepth", "preset": config.preset,
                "precision": run_precision(config, device)}

    def load(self, config: RollingDepthConfig, device: str) -> LoadedRollingDepth:
        from core.depth.rollingdepth import get_preset, load_model

        precision = run_precision(config, device)
        pipeline = replace(get_preset(config.preset), precision=precision)
        return LoadedRollingDepth(load_model(config.weights, device, precision), pipeline, config.weights)


class LoadedRollingDepth:
    """RollingDepth weights on one device and the pipeline settings, ready to run shots."""

    def __init__(self, model, pipeline, weights: Path | None) -> None:
        self.model, self.pipeline = model, pipeline
        self.record = {"weights": str(weights) if weights else None}

    def run_shot(self, shot: ShotInput, writer: DepthPassWriter, on_frame: Callable[[int], None]) -> None:
        """Depth of one whole shot into ``writer`` (a shot left open there is computed again from its start)."""
        from core.depth.rollingdepth import estimate_shot

        if shot.length is None:
            raise ValueError("rollingdepth needs the shot's length (ShotInput.end)")
        pts: dict[int, float] = {}

        def images() -> Iterator[np.ndarray]:
            for i, frame in enumerate(shot.frames(shot.start), start=shot.start):
                pts[i] = frame.pts
                yield frame.image

        writer.begin_shot(shot.start)
        log.info("rollingdepth: shot of %d frames at frame %d", shot.length, shot.start)
        depths = estimate_shot(self.model, images, shot.length, self.pipeline)
        for i, depth in enumerate(depths, start=shot.start):
            if i >= shot.end:
                raise RuntimeError(f"rollingdepth returned more than the shot's {shot.length} frames")
            writer.write(i, np.asarray(depth, np.float32), pts[i])
            on_frame(i)
        writer.end_shot()


ENGINE = RollingDepthEngine()
