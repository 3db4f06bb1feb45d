"""The full SD2-style configuration gives the parameter names and shapes of prs-eth/rollingdepth-v1-0.

Built on the ``meta`` device: no memory, no download. Expected figures are those of the Stable
Diffusion 2 checkpoints (UNet 865,910,724 parameters; VAE 83,653,863; text encoder 340,387,840) with
the RollingDepth/Marigold UNet change: an 8-channel input convolution (+320*4*3*3 = 11,520).
"""

from __future__ import annotations

import pytest

from core.models.rollingdepth import (
    build_text_encoder,
    build_unet,
    build_vae,
    sd2_text_encoder_config,
    sd2_vae_config,
    unet_config,
)


@pytest.fixture(scope="module")
def unet():
    return build_unet(unet_config(), device="meta")


def _shapes(module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_unet_parameters_match_checkpoint(unet):
    shapes = _shapes(unet)
    assert next(unet.parameters()).device.type == "meta"
    assert sum(p.numel() for p in unet.parameters()) == 865_910_724 + 11_520
    expected = {
        "conv_in.weight": (320, 8, 3, 3),
        "conv_out.weight": (4, 320, 3, 3),
        "time_embedding.linear_1.weight": (1280, 320),
        "down_blocks.0.attentions.0.proj_in.weight": (320, 320),  # linear projections (SD2)
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight": (320, 320),
        "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
        "down_blocks.2.attentions.1.transformer_blocks.0.ff.net.0.proj.weight": (10240, 1280),
        "mid_block.attentions.0.transformer_blocks.0.attn2.to_v.weight": (1280, 1024),
        "up_blocks.3.resnets.2.conv_shortcut.weight": (320, 640, 1, 1),
        "up_blocks.0.upsamplers.0.conv.weight": (1280, 1280, 3, 3),
    }
    for key, shape in expected.items():
        assert shapes[key] == shape, key
    # no temporal layers or frame embeddings: the only change is the input convolution
    assert not any("temporal" in k or "frame" in k for k in shapes)
    assert sum(".attn1.to_q.weight" in k for k in shapes) == 16  # 2x3 down, 1 mid, 3x3 up


def test_vae_and_text_encoder_match_sd2():
    vae = build_vae(sd2_vae_config(), device="meta")
    text = build_text_encoder(sd2_text_encoder_config(), device="meta")
    assert sum(p.numel() for p in vae.parameters()) == 83_653_863
    assert sum(p.numel() for p in text.parameters()) == 340_387_840
    assert _shapes(vae)["encoder.conv_in.weight"] == (128, 3, 3, 3)
    assert _shapes(vae)["quant_conv.weight"] == (8, 8, 1, 1)
    assert _shapes(text)["embeddings.token_embedding.weight"] == (49408, 1024)
    assert sum(k.endswith("self_attn.q_proj.weight") for k in _shapes(text)) == 23
