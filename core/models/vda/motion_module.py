"""Temporal attention modules of the spatio-temporal head (``head.motion_modules.N.*`` keys).

Each module lets every spatial location attend over the T frames of a clip; its output is added to its input.

Streaming mode: given a ``LayerCache`` per attention layer (see ``stream_cache``), the modules take one frame
(T = 1) and each attention layer attends from it to the cached states of earlier frames; same weights, same code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.vda.stream_cache import LayerCache

NUM_HEADS = 8
MAX_FRAMES = 32  # rows of the position table in the checkpoint


class PositionalEncoding(nn.Module):
    """Adds the first T rows of the checkpoint's temporal position table ``pe`` (1, 32, C).

    ``pe`` is a persistent buffer: the loaded values are used (initialised to the sinusoid only for a fresh model).
    """

    def __init__(self, dim: int, max_len: int = MAX_FRAMES) -> None:
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-torch.log(torch.tensor(10000.0)) / dim))
        table = torch.zeros(1, max_len, dim)
        table[0, :, 0::2] = torch.sin(position * freq)
        table[0, :, 1::2] = torch.cos(position * freq)
        self.register_buffer("pe", table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(S, T, C) -> (S, T, C); T <= 32."""
        frames = x.shape[1]
        if frames > self.pe.shape[1]:
            raise ValueError(f"clip of {frames} frames: the temporal modules handle at most {self.pe.shape[1]}")
        return x + self.pe[:, :frames]


class TemporalAttention(nn.Module):
    """Self-attention along time, 8 heads of C/8 channels, q/k/v without bias, position table added first."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])
        self.pos_encoder = PositionalEncoding(dim)

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        """(S, T, C) sequences (one per batch item and spatial location) -> (S, T, C).

        With ``cache`` (streaming, T = 1): keys and values span the cached states then ``x`` (position table rows
        0 .. len), the query is ``x`` only; ``x`` is then entered into the cache.
        """
        if cache is not None:
            if x.shape[1] != 1:
                raise ValueError(f"streaming mode takes one frame at a time, got {x.shape[1]}")
            context = torch.cat([*cache.context(), x], dim=1)
            cache.append(x)
            x = self.pos_encoder(context)
            query = x[:, -1:]
        else:
            x = self.pos_encoder(x)
            query = x
        seqs, frames, dim = x.shape
        head_dim = dim // NUM_HEADS

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(seqs, t.shape[1], NUM_HEADS, head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads(self.to_q(query)), heads(self.to_k(x)), heads(self.to_v(x)), scale=head_dim**-0.5
        )
        return self.to_out[0](out.transpose(1, 2).reshape(seqs, query.shape[1], dim))


class GEGLU(nn.Module):
    """Linear(C, 8C) split in halves (value, gate) -> value * gelu(gate)."""

    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU feed-forward of width 4C; ``net.1`` is the (parameter-free) dropout slot of the checkpoint."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, 4 * dim), nn.Identity(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TemporalTransformerBlock(nn.Module):
    """Two pre-norm temporal attention layers, then a pre-norm GEGLU feed-forward (LayerNorm eps 1e-5)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList([TemporalAttention(dim), TemporalAttention(dim)])
        self.norms = nn.ModuleList([nn.LayerNorm(dim), nn.LayerNorm(dim)])
        self.ff = FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, frames: int, caches: list[LayerCache] | None = None) -> torch.Tensor:
        """(B*T, L, C) tokens of L spatial locations -> (B*T, L, C).

        ``caches``: streaming mode, one ``LayerCache`` per attention block (T = 1).
        """
        batch_frames, locations, dim = x.shape
        layer_caches = caches if caches is not None else [None] * len(self.attention_blocks)
        for attention, norm, cache in zip(self.attention_blocks, self.norms, layer_caches, strict=True):
            seq = norm(x).reshape(-1, frames, locations, dim).transpose(1, 2).reshape(-1, frames, dim)
            out = attention(seq, cache).reshape(-1, locations, frames, dim).transpose(1, 2)
            x = x + out.reshape(batch_frames, locations, dim)
        return x + self.ff(self.ff_norm(x))


class TemporalTransformer(nn.Module):
    """Per-frame GroupNorm (32 groups, eps 1e-6), Linear in, one temporal block, Linear out, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(channels)])
        self.proj_out = nn.Linear(channels, channels)

    @property
    def attention_layers(self) -> int:
        """Temporal attention layers inside (what a streaming cache needs one ``LayerCache`` each for)."""
        return sum(len(block.attention_blocks) for block in self.transformer_blocks)

    def forward(self, x: torch.Tensor, frames: int, caches: list[LayerCache] | None = None) -> torch.Tensor:
        """(B*T, C, h, w) feature maps, frames of one clip consecutive -> (B*T, C, h, w).

        ``caches``: streaming mode, ``attention_layers`` caches in block order (T = 1).
        """
        batch_frames, channels, height, width = x.shape
        hidden = self.norm(x).permute(0, 2, 3, 1).reshape(batch_frames, height * width, channels)
        hidden = self.proj_in(hidden)
        offset = 0
        for block in self.transformer_blocks:
            count = len(block.attention_blocks)
            hidden = block(hidden, frames, None if caches is None else caches[offset : offset + count])
            offset += count
        hidden = self.proj_out(hidden)
        return hidden.reshape(batch_frames, height, width, channels).permute(0, 3, 1, 2) + x


class TemporalModule(nn.Module):
    """One ``head.motion_modules.N``: wraps the temporal transformer (checkpoint key level)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels)

    @property
    def attention_layers(self) -> int:
        return self.temporal_transformer.attention_layers

    def forward(self, x: torch.Tensor, frames: int, caches: list[LayerCache] | None = None) -> torch.Tensor:
        """(B*T, C, h, w) -> (B*T, C, h, w); T = ``frames`` <= 32, or 1 with ``caches`` (streaming mode)."""
        return self.temporal_transformer(x, frames, caches)
