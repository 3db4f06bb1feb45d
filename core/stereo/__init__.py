"""core.stereo: depth pass -> stereo 3D video (disparity, view synthesis, packing layouts, stereo metadata).

The names below load their module on first use, so importing a light submodule (e.g. ``core.stereo.disparity``)
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {name: "core.stereo.warp" for name in ("WarpResult", "dilate_foreground", "synthesize_views", "warp_view")}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
