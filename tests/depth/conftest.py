"""Shared helpers of the depth-engine tests: the fixtures folder beside the checkout, synthetic vits weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
VDA_FIXTURES = SHARED / "fixtures" / "vda"


@pytest.fixture(scope="session")
def vda_fixtures() -> Path:
    return VDA_FIXTURES


@pytest.fixture(scope="session")
def vits_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic vits state dict of the fixtures, saved as a ``.pth`` file."""
    import torch

    spec = importlib.util.spec_from_file_location("make_weights", VDA_FIXTURES / "make_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("weights") / "vits_synthetic.pth"
    torch.save(module.make_state_dict(str(VDA_FIXTURES / "layout_vits.json")), path)
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Two OpenMP threads on a busy 2-core box are 20x slower than one: tests use one."""
    import torch

    torch.set_num_threads(1)
