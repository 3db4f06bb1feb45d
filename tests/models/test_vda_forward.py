"""Forward pass equals the reference outputs (fixtures forward_<enc>.npz) within the README's tolerances."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from core.models.vda.preprocess import MEAN, STD

from .vda_fixture_files import VDA_FIXTURES, assert_close_to_reference


@pytest.fixture(scope="module")
def vits_npz() -> dict[str, np.ndarray]:
    with np.load(VDA_FIXTURES / "forward_vits.npz") as f:
        return dict(f)


@pytest.fixture(scope="module")
def vits_t8_run(model_for, vits_npz) -> dict[str, np.ndarray]:
    """The T=8 forward of vits with the temporal modules' outputs captured, in the fixture's (B, C, T, h, w) layout."""
    model = model_for("vits")
    captured: dict[str, np.ndarray] = {}
    frames = 8

    def hook(index: int):
        def record(_module, _inputs, output: torch.Tensor) -> None:
            bt, c, h, w = output.shape
            captured[f"dbg_T8_motion_module{index}_out"] = (
                output.reshape(bt // frames, frames, c, h, w).permute(0, 2, 1, 3, 4).numpy()
            )

        return record

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(model.head.motion_modules)]
    try:
        with torch.no_grad():
            captured["out_T8"] = model(torch.from_numpy(vits_npz["x"][:, :frames])).numpy()
    finally:
        for handle in handles:
            handle.remove()
    return captured


def test_vits_forward_T32(model_for, vits_npz) -> None:
    with torch.no_grad():
        out = model_for("vits")(torch.from_numpy(vits_npz["x"]))
    assert out.dtype == torch.float32
    assert_close_to_reference(out.numpy(), vits_npz["out_T32"])


def test_vits_forward_T8(vits_t8_run, vits_npz) -> None:
    assert_close_to_reference(vits_t8_run["out_T8"], vits_npz["out_T8"])


@pytest.mark.parametrize("index", range(4))
def test_vits_temporal_module_outputs(vits_t8_run, vits_npz, index: int) -> None:
    key = f"dbg_T8_motion_module{index}_out"
    assert_close_to_reference(vits_t8_run[key], vits_npz[key])


def test_vits_encoder_layers(model_for, vits_npz) -> None:
    model = model_for("vits")
    x = torch.from_numpy(vits_npz["x"][0, :2])
    with torch.no_grad():
        layers = model.pretrained.intermediate_layers(x, model.config.layers)
    for i, (patch, cls) in enumerate(layers):
        assert_close_to_reference(patch.numpy(), vits_npz[f"dbg_T8_encoder_layer{i}_tokens_f01"])
        assert_close_to_reference(cls.numpy(), vits_npz[f"dbg_T8_encoder_layer{i}_cls_f01"])


def test_vits_encoder_at_518_uses_stored_position_table(model_for, vits_npz) -> None:
    frame = vits_npz["enc518_frame_uint8"].astype(np.float64) / 255.0
    x = torch.from_numpy(((frame - MEAN) / STD).astype(np.float32).transpose(2, 0, 1)[None])
    model = model_for("vits")
    with torch.no_grad():
        layers = model.pretrained.intermediate_layers(x, model.config.layers)
    for i, (patch, cls) in enumerate(layers):
        assert_close_to_reference(patch[:, :64].numpy(), vits_npz[f"enc518_layer{i}_tokens_first64"])
        assert_close_to_reference(cls.numpy(), vits_npz[f"enc518_layer{i}_cls"])


def test_encode_decode_split_equals_forward(model_for, vits_npz) -> None:
    """Features computed in separate chunks and concatenated on dim 0 give the same depth as forward."""
    model = model_for("vits")
    x = torch.from_numpy(vits_npz["x"][:, :8])
    with torch.no_grad():
        chunks = [model.encode(x[0, :3]), model.encode(x[0, 3:])]
        features = [torch.cat(parts) for parts in zip(*chunks)]
        assert [tuple(f.shape) for f in features] == [(8, 35, 384)] * 4
        depth = model.decode(features, 1, 8, 70, 98)
        chunked = model.decode(features, 1, 8, 70, 98, frames_per_chunk=3)  # per-frame stages 3 frames at a time
    assert_close_to_reference(depth.numpy(), vits_npz["out_T8"])
    assert_close_to_reference(chunked.numpy(), vits_npz["out_T8"])


def test_clip_longer_than_32_frames_is_rejected(model_for) -> None:
    with torch.no_grad(), pytest.raises(ValueError, match="at most 32"):
        model_for("vits")(torch.zeros(1, 33, 3, 28, 28))


def test_size_not_multiple_of_14_is_rejected(model_for) -> None:
    with torch.no_grad(), pytest.raises(ValueError, match="multiple of 14"):
        model_for("vits")(torch.zeros(1, 2, 3, 28, 30))


def test_cpu_autocast_keeps_last_convs_in_float32(model_for, vits_npz) -> None:
    """Under CPU bf16 autocast the head's last convs still run in float32, and the result stays near fp32's."""
    model = model_for("vits")
    seen: list[torch.dtype] = []
    handle = model.head.scratch.output_conv2.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(torch.from_numpy(vits_npz["x"][:, :4]))
    finally:
        handle.remove()
    assert seen == [torch.float32]
    ref = model_for("vits")(torch.from_numpy(vits_npz["x"][:, :4])).detach().numpy()
    err = np.abs(out.float().numpy() - ref)
    assert err.mean() <= 1e-2 * (ref.max() - ref.min())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_model_cast_to_half_precision_runs(model_for, vits_npz, dtype: torch.dtype) -> None:
    """``model.to(dtype)`` (no autocast) works end to end, the last convs included, and stays near fp32."""
    model = copy.deepcopy(model_for("vits")).to(dtype)
    x = torch.from_numpy(vits_npz["x"][:, :4])
    with torch.no_grad():
        out = model(x.to(dtype))
        ref = model_for("vits")(x).numpy()
    assert out.dtype == dtype
    assert np.abs(out.float().numpy() - ref).mean() <= 1e-2 * (ref.max() - ref.min())


@pytest.mark.parametrize("encoder", ["vitb", pytest.param("vitl", marks=pytest.mark.slow)])
def test_forward_matches_reference(model_for, encoder: str) -> None:
    with np.load(VDA_FIXTURES / f"forward_{encoder}.npz") as f:
        x, out_t32, out_t8 = f["x"], f["out_T32"], f["out_T8"]
    model = model_for(encoder)
    with torch.no_grad():
        assert_close_to_reference(model(torch.from_numpy(x)).numpy(), out_t32)
        assert_close_to_reference(model(torch.from_numpy(x[:, :8])).numpy(), out_t8)


@pytest.fixture
def no_tf32():
    """Full float32 matmuls/convs on CUDA for the parity check (TF32 would exceed the tolerance)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.cuda
def test_vits_forward_cuda_fp32(model_for, vits_npz, no_tf32) -> None:
    model = model_for("vits").to("cuda")
    try:
        with torch.no_grad():
            out = model(torch.from_numpy(vits_npz["x"]).to("cuda")).cpu().numpy()
    finally:
        model.to("cpu")
    assert_close_to_reference(out, vits_npz["out_T32"])


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_vits_forward_cuda_autocast_near_fp32(model_for, vits_npz, dtype: torch.dtype) -> None:
    model = model_for("vits").to("cuda")
    try:
        with torch.no_grad(), torch.autocast("cuda", dtype=dtype):
            out = model(torch.from_numpy(vits_npz["x"]).to("cuda")).float().cpu().numpy()
    finally:
        model.to("cpu")
    ref = vits_npz["out_T32"]
    assert np.isfinite(out).all()
    assert np.abs(out - ref).mean() <= 1e-2 * (ref.max() - ref.min())
