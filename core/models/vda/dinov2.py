"""DINOv2 ViT encoder (``pretrained.*`` keys of the VDA checkpoints), inference only.

Attribute names follow the checkpoint: ``patch_embed.proj``, ``blocks.N.{norm1,attn,ls1,norm2,mlp,ls2}``, ``norm``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PATCH_SIZE = 14
PRETRAIN_GRID = 37  # pos_embed was trained for 518x518 inputs = 37x37 patches
_POS_EMBED_OFFSET = 0.1  # the reference resizes the table by (grid + 0.1) / 37 to avoid rounding down


class PatchEmbed(nn.Module):
    """Non-overlapping 14x14 patches projected to ``dim`` channels."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=PATCH_SIZE, stride=PATCH_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, h*w, dim) with h = H // 14, w = W // 14."""
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, dim) -> (N, L, dim)."""
        n, length, dim = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(n, length, dim))


class Mlp(nn.Module):
    """Linear -> exact (erf) GELU -> Linear, hidden width 4 * dim."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    """Per-channel scale ``gamma``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches (LayerNorm eps 1e-6)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoVisionTransformer(nn.Module):
    """DINOv2 ViT/14 with a class token and a learned 37x37 position table, no register tokens."""

    def __init__(self, dim: int, depth: int, num_heads: int) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + PRETRAIN_GRID * PRETRAIN_GRID, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # in the checkpoint, unused at inference
        self.patch_embed = PatchEmbed(dim)
        self.blocks = nn.ModuleList(Block(dim, num_heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def position_embedding(self, grid_h: int, grid_w: int) -> torch.Tensor:
        """Position table for a ``grid_h`` x ``grid_w`` patch grid: (1, 1 + grid_h*grid_w, dim).

        The stored table is used as is for the square 37x37 grid; otherwise its patch part is resized
        bicubically with ``scale_factor=((grid + 0.1) / 37)`` per axis (the reference's rule, which
        maps coordinates with that factor rather than with grid / 37), in float32.
        """
        if grid_h == grid_w == PRETRAIN_GRID:
            return self.pos_embed
        table = self.pos_embed.float()
        dim = table.shape[-1]
        patches = table[:, 1:].reshape(1, PRETRAIN_GRID, PRETRAIN_GRID, dim).permute(0, 3, 1, 2)
        scale = ((grid_h + _POS_EMBED_OFFSET) / PRETRAIN_GRID, (grid_w + _POS_EMBED_OFFSET) / PRETRAIN_GRID)
        patches = F.interpolate(patches, scale_factor=scale, mode="bicubic", align_corners=False)
        if patches.shape[-2:] != (grid_h, grid_w):
            raise RuntimeError(f"position table resized to {tuple(patches.shape[-2:])}, expected {(grid_h, grid_w)}")
        patches = patches.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim)
        return torch.cat((table[:, :1], patches), dim=1).to(self.pos_embed.dtype)

    def intermediate_layers(self, x: torch.Tensor, layers: tuple[int, ...]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised outputs of the given blocks (0-based) for images (N, 3, H, W), H and W multiples of 14.

        Returns one ``(patch_tokens (N, h*w, dim), class_token (N, dim))`` pair per requested block.
        """
        n, _, height, width = x.shape
        grid_h, grid_w = height // PATCH_SIZE, width // PATCH_SIZE
        tokens = self.patch_embed(x)
        tokens = torch.cat((self.cls_token.expand(n, -1, -1), tokens), dim=1)
        tokens = tokens + self.position_embedding(grid_h, grid_w)
        wanted = set(layers)
        outputs = []
        for index, block in enumerate(self.blocks[: max(layers) + 1]):
            tokens = block(tokens)
            if index in wanted:
                normed = self.norm(tokens)
                outputs.append((normed[:, 1:], normed[:, 0]))
        return outputs


def grid_size(height: int, width: int) -> tuple[int, int]:
    """Patch grid (h, w) of an input of ``height`` x ``width`` pixels (multiples of 14)."""
    if height % PATCH_SIZE or width % PATCH_SIZE:
        raise ValueError(f"input size {height}x{width} is not a multiple of {PATCH_SIZE}")
    return height // PATCH_SIZE, width // PATCH_SIZE


