"""RollingDepth presets (the reference's ``run_video.py`` presets) as pipeline configurations."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.depth.rollingdepth.coalign import CoalignConfig
from core.errors import DepthshotError


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the RollingDepth pipeline needs besides the model.

    ``resolution``: longer side of the processing size in pixels (0: native size).
    ``dilations``: snippet frame steps (must contain 1); ``cap_dilation``: the reference's cap for short clips.
    ``refine_steps``: diffusion refinement steps (0: off). ``precision``: "fp16" | "fp32" (CPU always fp32).
    ``vae_batch`` frames per VAE call, ``snippet_batch`` snippets per UNet call.
    ``max_coalign_values``: co-alignment samples budget (snippet frames x pixels); long shots use a
    sparser pixel grid than the reference's every-10th pixel to stay under it.
    ``seed``: the shared initial noise (fixed, so a resumed job gives the same depth).
    """

    resolution: int = 768
    dilations: tuple[int, ...] = (1, 25)
    cap_dilation: bool = True
    snippet_len: int = 3
    refine_steps: int = 0
    refine_snippet_len: int = 3
    refine_start_dilation: int = 6
    precision: str = "fp16"
    vae_batch: int = 4
    snippet_batch: int = 1
    max_coalign_values: int = 20_000_000
    seed: int = 0
    coalign: CoalignConfig = field(default_factory=CoalignConfig)


PRESETS: dict[str, PipelineConfig] = {
    "fast": PipelineConfig(resolution=768, dilations=(1, 25)),
    "fast1024": PipelineConfig(resolution=1024, dilations=(1, 25)),
    "full": PipelineConfig(resolution=1024, dilations=(1, 10, 25), refine_steps=10),
    "paper": PipelineConfig(resolution=768, dilations=(1, 10, 25), cap_dilation=False, precision="fp32", refine_steps=10),
}


def get_preset(name: str) -> PipelineConfig:
    """The configuration of preset ``name`` (fast, fast1024, full, paper)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise DepthshotError(f"unknown RollingDepth preset {name!r} (choose from {', '.join(PRESETS)})") from None
