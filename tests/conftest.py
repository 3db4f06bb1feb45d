"""Fixtures shared by every test area."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.shared_data import VDA_FIXTURES, load_make_weights

# the bpy wheel (the add-on's tests) is only built for Python 3.11; elsewhere those tests are not collected
collect_ignore = [] if importlib.util.find_spec("bpy") else ["blender_addon"]


@pytest.fixture(scope="session")
def make_weights() -> ModuleType:
    """The fixtures' ``make_weights.py``, imported by path."""
    return load_make_weights()


@pytest.fixture(scope="session")
def vits_weights(make_weights: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic vits (vda-s) state dict of the fixtures, saved once per session as an official-style ``.pth``."""
    import torch

    path = tmp_path_factory.mktemp("weights") / "vits_synthetic.pth"
    torch.save(make_weights.make_state_dict(str(VDA_FIXTURES / "layout_vits.json")), path)
    return path
