"""The depth engine: long-video depth with key-frame referencing, per shot, resumable; the depth pass format.

The names below load ``core.depth.job`` on first use, so importing ``core.depth.depth_pass`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {name: "core.depth.job" for name in ("DepthJob", "Progress", "add_engine_arguments", "ensure_pass", "run_depth")}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
