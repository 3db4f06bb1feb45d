"""RollingDepth (Ke et al., arXiv 2411.19189) as a depth engine: snippets of 3 frames at several
dilations, one-step latent diffusion per snippet, global co-alignment, optional refinement.

The depth engine calls ``load_model`` once per job and ``estimate_shot`` per shot; ``random_model`` builds an
untrained tiny model for tests and benchmarks.
"""

from __future__ import annotations

import importlib
from typing import Any

# names -> the module holding them, loaded on first use (diffusers only when the model is needed)
_EXPORTS = {
    **dict.fromkeys(("Alignment", "CoalignConfig", "fit_alignment", "merge_frames", "normalize_clip"),
                    "core.depth.rollingdepth.coalign"),
    **dict.fromkeys(("RollingDepthModel", "random_model"), "core.depth.rollingdepth.model"),
    "estimate_shot": "core.depth.rollingdepth.pipeline",
    **dict.fromkeys(("PRESETS", "PipelineConfig", "get_preset"), "core.depth.rollingdepth.presets"),
    **dict.fromkeys(("REPO_ID", "load_model"), "core.depth.rollingdepth.weights"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
