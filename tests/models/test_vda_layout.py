"""The model's state dict equals the official checkpoint layout (fixture layout_<enc>.json)."""

from __future__ import annotations

import pytest
import torch

from core.models.vda import VideoDepthAnything

from .vda_fixture_files import load_layout


@pytest.mark.parametrize("metric", [False, True], ids=["relative", "metric"])
@pytest.mark.parametrize("encoder", ["vits", "vitb", "vitl"])
def test_state_dict_layout_equals_reference(encoder: str, metric: bool) -> None:
    layout = load_layout(encoder)
    with torch.device("meta"):  # shapes and dtypes only: skips the costly random initialisation
        model = VideoDepthAnything(encoder, metric=metric)
    state = model.state_dict()
    got = [[key, list(value.shape), str(value.dtype).removeprefix("torch.")] for key, value in state.items()]
    assert got == layout["state_dict"]  # same keys, shapes, dtypes, and the same order
    buffers = [name for name, _ in model.named_buffers()]
    assert buffers == layout["buffers"]
    assert sum(p.numel() for p in model.parameters()) == layout["num_parameters"]
    assert sum(b.numel() for b in model.buffers()) == layout["num_buffer_elements"]


@pytest.mark.parametrize("encoder", ["vits", "vitb"])
def test_synthetic_weights_load_strictly(encoder: str, state_dict_for) -> None:
    model = VideoDepthAnything(encoder)
    model.load_state_dict(state_dict_for(encoder), strict=True)
    pe = "head.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"
    assert model.state_dict()[pe].equal(state_dict_for(encoder)[pe])  # the loaded table, not the sinusoid


def test_unknown_encoder_is_rejected() -> None:
    with pytest.raises(ValueError, match="vitg"):
        VideoDepthAnything("vitg")
