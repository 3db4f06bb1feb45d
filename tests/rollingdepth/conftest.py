"""Shared helpers of the RollingDepth tests: the fixtures folder, single-threaded torch, offline hub."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.shared_data import RD_FIXTURES as FIXTURES


@pytest.fixture(autouse=True)
def _single_thread_offline(monkeypatch: pytest.MonkeyPatch):
    """Tiny models are dominated by thread hand-off on a shared 2-core box; never touch the network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def coalign_fixture() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "coalign.npz") as z:
        return {k: z[k] for k in z.files}


def synthetic_frames(count: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """A moving gradient with a bright square: uint8 RGB frames [H, W, 3]."""
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        img = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 40)], -1)
        x0 = 4 + 3 * i
        img[10:26, x0 : x0 + 16] = 230
        frames.append(img.astype(np.uint8))
    return frames
