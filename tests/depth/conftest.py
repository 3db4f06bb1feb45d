"""Shared helpers of the depth-engine tests: the fixtures folder beside the checkout, synthetic vits weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_data import VDA_FIXTURES


@pytest.fixture(scope="session")
def vda_fixtures() -> Path:
    return VDA_FIXTURES


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Two OpenMP threads on a busy 2-core box are 20x slower than one: tests use one."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def long(vda_fixtures):
    """The reference long-video run of vits (``long_vits.npz``): frames, windows, depth, fits."""
    import numpy as np

    return np.load(vda_fixtures / "long_vits.npz")


@pytest.fixture(scope="module")
def runner(vits_weights, long):
    """A CPU fp32 ``VdaRunner`` of the synthetic vits weights at the long run's input size."""
    import torch

    from core.depth.engine import VdaRunner
    from core.models.vda import VideoDepthAnything

    model = VideoDepthAnything("vits")
    model.load_state_dict(torch.load(vits_weights, weights_only=True), strict=True)
    return VdaRunner(model, input_size=int(long["input_size"]), device="cpu", precision="fp32")
