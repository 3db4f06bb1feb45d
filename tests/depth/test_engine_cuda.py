"""The engine's CUDA branches (pinned upload and download, TF32 off for fp32, batch sizes from the GPU's free memory,
autocast outputs, resume) against the CPU run; skipped without a GPU (``pytest -m cuda`` on one)."""

import copy

import numpy as np
import pytest

from core.depth.engine import ShotDepth, VdaRunner
from tests.depth.test_engine import run_resumed, run_shot

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def cuda_model(runner):
    return copy.deepcopy(runner.model).to("cuda")


def test_fp32_on_cuda_matches_the_cpu(runner, cuda_model, long):
    import torch

    frames = long["frames"][:60]
    ref, _ = run_shot(ShotDepth(runner, metric=False), frames)
    gpu = VdaRunner(cuda_model, runner.input_size, device="cuda", precision="fp32")
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    depth, pts = run_shot(ShotDepth(gpu, metric=False), frames)
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == tf32  # restored
    assert depth.dtype == np.float32 and depth.shape == ref.shape
    assert 1 <= gpu.encode_batch <= 32 and 1 <= gpu.decode_chunk <= 32  # from torch.cuda.mem_get_info
    rng = ref.max() - ref.min()
    assert np.abs(depth - ref).max() <= 5e-5 * rng  # the fixtures' forward rule: TF32 would not meet it
    assert pts == pytest.approx([i / 24 for i in range(60)])


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_on_cuda_gives_float32_near_fp32(runner, cuda_model, long, precision):
    frames = long["frames"][:40]
    ref, _ = run_shot(ShotDepth(runner, metric=False), frames)
    half = VdaRunner(cuda_model, runner.input_size, device="cuda", precision=precision)
    depth, _ = run_shot(ShotDepth(half, metric=False), frames)
    assert depth.dtype == np.float32 and np.isfinite(depth).all()
    err = np.abs(depth - ref).max() / (ref.max() - ref.min())
    assert 0 < err <= 0.05


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resume_on_cuda_is_bit_identical(runner, cuda_model, long, precision):
    gpu = VdaRunner(cuda_model, runner.input_size, device="cuda", precision=precision)
    frames = long["frames"][:60]
    full, _ = run_shot(ShotDepth(gpu, metric=False), frames)
    assert np.array_equal(run_resumed(gpu, frames, 1), full)


def test_auto_is_half_precision_on_cuda(runner, cuda_model):
    import torch

    auto = VdaRunner(cuda_model, runner.input_size, device="cuda")
    assert auto.precision == ("bf16" if torch.cuda.get_device_capability()[0] >= 8 else "fp16")  # native bf16


def test_rollingdepth_fp16_on_cuda_gives_float32_frames():
    from dataclasses import replace

    import torch

    from core.depth.rollingdepth.model import random_model
    from core.depth.rollingdepth.pipeline import estimate_shot
    from core.depth.rollingdepth.presets import get_preset

    model = random_model(0, "cuda")
    model = replace(model, unet=model.unet.half(), vae=model.vae.half(), text_embedding=model.text_embedding.half())
    frames = [np.full((40, 64, 3), 40 * i, np.uint8) for i in range(5)]
    for name in ("fast", "full"):
        config = replace(get_preset(name), precision="fp16", resolution=48)
        out = list(estimate_shot(model, lambda: iter(frames), len(frames), config))
        assert len(out) == 5 and all(d.dtype == np.float32 and d.shape == (40, 64) for d in out)
        assert all(np.isfinite(d).all() for d in out)
    assert model.unet.dtype == torch.float16
