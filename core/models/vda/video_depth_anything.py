"""Video Depth Anything: DINOv2 encoder (``pretrained``) + spatio-temporal DPT head (``head``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.models.vda.dinov2 import DinoVisionTransformer, grid_size
from core.models.vda.dpt import DPTHeadTemporal
from core.models.vda.stream_cache import StreamCache


@dataclass(frozen=True)
class EncoderConfig:
    """Size of one VDA variant: ViT width/depth/heads, the blocks fed to the head, head widths."""

    embed_dim: int
    depth: int
    num_heads: int
    layers: tuple[int, int, int, int]
    features: int
    out_channels: tuple[int, int, int, int]


ENCODERS: dict[str, EncoderConfig] = {
    "vits": EncoderConfig(384, 12, 6, (2, 5, 8, 11), 64, (48, 96, 192, 384)),
    "vitb": EncoderConfig(768, 12, 12, (2, 5, 8, 11), 128, (96, 192, 384, 768)),
    "vitl": EncoderConfig(1024, 24, 16, (4, 11, 17, 23), 256, (256, 512, 1024, 1024)),
}


class VideoDepthAnything(nn.Module):
    """VDA network; ``state_dict()`` matches the official checkpoints key for key.

    ``metric`` only records which checkpoint family the weights come from (metric depth in metres vs relative
    inverse depth): the network is the same, the difference is in how windows are stitched (the engine's job).
    """

    def __init__(self, encoder: str = "vitl", metric: bool = False) -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; expected one of {sorted(ENCODERS)}")
        cfg = ENCODERS[encoder]
        self.encoder = encoder
        self.metric = metric
        self.config = cfg
        self.pretrained = DinoVisionTransformer(cfg.embed_dim, cfg.depth, cfg.num_heads)
        self.head = DPTHeadTemporal(cfg.embed_dim, cfg.features, list(cfg.out_channels))

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-frame encoder features: images (N, 3, H, W), normalised, H and W multiples of 14.

        Returns the 4 intermediate layers' normalised patch tokens, each (N, h*w, D) with h = H/14, w = W/14.
        Frames are independent, so results can be sliced and concatenated along dim 0.
        """
        return [tokens for tokens, _ in self.pretrained.intermediate_layers(x, self.config.layers)]

    def decode(
        self,
        features: list[torch.Tensor],
        batch: int,
        frames: int,
        height: int,
        width: int,
        frames_per_chunk: int | None = None,
        cache: StreamCache | None = None,
    ) -> torch.Tensor:
        """Depth (B, T, H, W) from ``encode`` features of B clips of T <= 32 frames (a clip's frames consecutive).

        ``frames_per_chunk``: run the head's per-frame, full-resolution stages that many frames at a time (bounds
        peak memory; the same result); None = all at once.
        ``cache``: streaming mode (T = 1): the frame attends to the earlier frames of the stream held in the cache
        instead of to a window, and is entered into it; pass the same cache for every frame of a stream.
        """
        grid_h, grid_w = grid_size(height, width)
        if features[0].shape[0] != batch * frames:
            raise ValueError(f"features hold {features[0].shape[0]} frames, expected {batch} x {frames}")
        if cache is not None and frames != 1:
            raise ValueError(f"streaming mode decodes one frame per call, got {frames}")
        coarse = self.head.temporal(features, grid_h, grid_w, frames, cache)
        step = frames_per_chunk or batch * frames
        chunks = [[t[i : i + step] for t in coarse] for i in range(0, batch * frames, step)]
        depth = torch.cat([self.head.per_frame(*chunk, grid_h, grid_w) for chunk in chunks])
        depth = F.relu(F.interpolate(depth, size=(height, width), mode="bilinear", align_corners=True))
        return depth.reshape(batch, frames, height, width)

    def forward(self, x: torch.Tensor, cache: StreamCache | None = None) -> torch.Tensor:
        """Depth (B, T, H, W) for clips (B, T, 3, H, W) of normalised frames, T <= 32, H and W multiples of 14.

        With ``cache``: streaming mode, T = 1 (see ``decode``).
        """
        batch, frames, _, height, width = x.shape
        return self.decode(self.encode(x.flatten(0, 1)), batch, frames, height, width, cache=cache)
