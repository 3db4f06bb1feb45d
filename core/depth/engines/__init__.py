"""The depth engines, one module each, behind the protocol of ``core.depth.engines.base``.

``ENGINES`` names every engine and the module that holds it (imported only when the engine is asked for, so listing
the engines or parsing options does not import torch). A new engine is one new module with an ``ENGINE`` object and
one line here.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from core.depth.engines.base import PRECISIONS, Engine, LoadedEngine, ShotInput
from core.errors import DepthshotError

ENGINES: dict[str, str] = {
    "vda": "core.depth.engines.vda",
    "vda-stream": "core.depth.engines.vda_stream",
    "rollingdepth": "core.depth.engines.rollingdepth",
}

# the job options an engine may take, and the command-line flag each comes from (for one-line refusals)
ENGINE_OPTIONS: dict[str, str] = {
    "model": "--model",
    "weights": "--weights",
    "input_size": "--input-size",
    "precision": "--precision",
    "preset": "--preset",
    "reuse_features": "reuse_features",
    "compile": "--compile",
}

__all__ = ["ENGINES", "ENGINE_OPTIONS", "PRECISIONS", "Engine", "LoadedEngine", "ShotInput", "get_engine", "make_config"]


def get_engine(name: str) -> Engine:
    """The engine registered as ``name``; DepthshotError for an unknown name."""
    if name not in ENGINES:
        raise DepthshotError(f"unknown engine {name!r} (expected one of {', '.join(ENGINES)})")
    return importlib.import_module(ENGINES[name]).ENGINE


def make_config(engine: Engine, options: dict[str, Any]) -> Any:
    """The engine's config from the options the user chose (None = not chosen: the engine's default).

    An option the engine does not take is refused with one line naming it, never silently ignored.
    """
    fields = {f.name for f in dataclasses.fields(engine.config_type)}
    chosen = {k: v for k, v in options.items() if v is not None}
    refused = [k for k in chosen if k not in fields]
    if refused:
        takes = ", ".join(ENGINE_OPTIONS[k] for k in ENGINE_OPTIONS if k in fields)
        flags = ", ".join(ENGINE_OPTIONS.get(k, k) for k in refused)
        raise DepthshotError(f"{flags} does not apply to the {engine.name} engine (it takes {takes})")
    config = engine.config_type(**chosen)
    engine.check(config)
    return config
