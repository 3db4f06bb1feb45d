"""Cross-frame self-attention: the frames of one snippet attend to each other's tokens."""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import Attention, AttnProcessor2_0


class CrossFrameAttnProcessor:
    """Self-attention over the concatenated tokens of the ``frames`` frames of each snippet.

    The UNet sees a snippet as a batch of ``frames`` images. This processor regroups the batch
    ``[B*frames, S, C]`` into ``[B, frames*S, C]``, runs ordinary multi-head attention (same q/k/v/out
    weights and scale) over each joint sequence and splits the result back to ``[B*frames, S, C]``.
    Only valid for self-attention (``attn1``); cross-attention to the text is per token anyway.
    """

    def __init__(self, frames: int) -> None:
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        self.frames = frames
        self._plain = AttnProcessor2_0()

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("CrossFrameAttnProcessor is for unmasked self-attention only")
        if hidden_states.ndim != 3:
            raise ValueError(f"expected tokens [B*frames, S, C], got shape {tuple(hidden_states.shape)}")
        batch_frames, tokens, channels = hidden_states.shape
        if batch_frames % self.frames:
            raise ValueError(f"batch {batch_frames} is not a multiple of the snippet length {self.frames}")
        joint = hidden_states.reshape(batch_frames // self.frames, self.frames * tokens, channels)
        out = self._plain(attn, joint, temb=temb)
        return out.reshape(batch_frames, tokens, channels)


def set_cross_frame_attention(unet: UNet2DConditionModel, frames: int) -> int:
    """Put a :class:`CrossFrameAttnProcessor` on every self-attention (``attn1``) layer of ``unet``.

    Cross-attention layers get the stock processor. Returns the number of layers changed
    (16 for the SD2 UNet).
    """
    processors: dict[str, object] = {}
    changed = 0
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            processors[name] = CrossFrameAttnProcessor(frames)
            changed += 1
        else:
            processors[name] = AttnProcessor2_0()
    unet.set_attn_processor(processors)
    return changed
