"""RollingDepth (Ke et al., arXiv 2411.19189) as a depth engine: snippets of 3 frames at several
dilations, one-step latent diffusion per snippet, global co-alignment, optional refinement.

The depth engine calls ``load_model`` once per job and ``estimate_shot`` per shot; ``random_model`` builds an
untrained tiny model for tests and benchmarks.
"""

from core.depth.rollingdepth.coalign import Alignment, CoalignConfig, fit_alignment, merge_frames, normalize_clip
from core.depth.rollingdepth.model import RollingDepthModel, random_model
from core.depth.rollingdepth.pipeline import estimate_shot
from core.depth.rollingdepth.presets import PRESETS, PipelineConfig, get_preset
from core.depth.rollingdepth.weights import REPO_ID, load_model

__all__ = [
    "Alignment",
    "CoalignConfig",
    "PRESETS",
    "PipelineConfig",
    "REPO_ID",
    "RollingDepthModel",
    "estimate_shot",
    "fit_alignment",
    "get_preset",
    "load_model",
    "merge_frames",
    "normalize_clip",
    "random_model",
]
