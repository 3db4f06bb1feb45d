"""core.devices.resolve_device: the one place a device name becomes a device."""

import pytest
import torch

from core.devices import resolve_device
from core.errors import DepthshotError


def test_auto_and_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None) == resolve_device("auto") == resolve_device(" Auto ") == expected
    assert resolve_device("cpu") == "cpu"


def test_unknown_names_are_refused():
    for name in ("tpu", "cuda:x", "gpu"):
        with pytest.raises(DepthshotError, match="unknown device"):
            resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_one_line():
    with pytest.raises(DepthshotError, match="no CUDA device is available"):
        resolve_device("cuda")
    with pytest.raises(DepthshotError, match="no CUDA device is available"):
        resolve_device("cuda:1")
