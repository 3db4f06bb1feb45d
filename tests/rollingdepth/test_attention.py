"""The cross-frame attention processor equals plain attention over a snippet's concatenated tokens."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from core.depth.rollingdepth.model import random_model
from core.models.rollingdepth import CrossFrameAttnProcessor, set_cross_frame_attention


def _attention(dim: int = 32, heads: int = 4) -> Attention:
    torch.manual_seed(0)
    return Attention(query_dim=dim, heads=heads, dim_head=dim // heads, bias=False, out_bias=True).eval()


@pytest.mark.parametrize("snippets,frames", [(1, 3), (2, 3), (3, 2)])
def test_processor_equals_attention_over_concatenated_tokens(snippets, frames):
    attn = _attention()
    tokens = torch.randn(snippets * frames, 13, 32)  # odd token count, like a 13-token latent row
    with torch.no_grad():
        out = CrossFrameAttnProcessor(frames)(attn, tokens)
        joint = tokens.reshape(snippets, frames * 13, 32)
        expected = AttnProcessor2_0()(attn, joint).reshape(snippets * frames, 13, 32)
        per_frame = AttnProcessor2_0()(attn, tokens)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    assert (out - per_frame).abs().max() > 1e-3  # really different from frame-by-frame attention


def test_processor_rejects_cross_attention_and_bad_batches():
    attn = _attention()
    with pytest.raises(ValueError):
        CrossFrameAttnProcessor(3)(attn, torch.randn(4, 5, 32))
    with pytest.raises(ValueError):
        CrossFrameAttnProcessor(3)(attn, torch.randn(3, 5, 32), encoder_hidden_states=torch.randn(3, 2, 32))


def test_unet_frames_interact_only_within_a_snippet():
    model = random_model(0)
    unet = model.unet
    assert set_cross_frame_attention(unet, 3) == sum(n.endswith("attn1.processor") for n in unet.attn_processors)
    x = torch.randn(6, 8, 8, 8)
    text = model.text_embedding.expand(6, -1, -1)
    t = torch.full((6,), 999)
    with torch.no_grad():
        base = unet(x, t, encoder_hidden_states=text).sample
        changed = x.clone()
        changed[1] += 1.0  # change one frame of the first snippet
        out = unet(changed, t, encoder_hidden_states=text).sample
        # permuting the frames of a snippet permutes the output (no frame position encoding)
        perm = torch.tensor([2, 0, 1, 3, 4, 5])
        permuted = unet(x[perm], t, encoder_hidden_states=text).sample
    assert (out[0] - base[0]).abs().max() > 1e-4  # frame 0 sees frame 1
    torch.testing.assert_close(out[3:], base[3:])  # the second snippet does not
    torch.testing.assert_close(permuted, base[perm], atol=1e-5, rtol=1e-4)
