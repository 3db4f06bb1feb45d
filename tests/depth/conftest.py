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
