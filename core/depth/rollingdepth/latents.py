"""Frames <-> VAE latents: processing size, RGB normalisation, encode (mean latent), depth decode."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL


def processing_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """(h, w) with the longer side scaled to ``resolution`` (truncating; 0 keeps the native size)."""
    if resolution <= 0:
        return height, width
    scale = min(resolution / width, resolution / height)
    return int(height * scale), int(width * scale)


def resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear, anti-aliased resize of ``[N, C, H, W]`` to ``size`` (h, w); no-op at the same size."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


def prepare_rgb(frames: np.ndarray, size: tuple[int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """uint8 RGB ``[N, H, W, 3]`` -> resized ``[N, 3, h, w]`` in [-1, 1] (resized in float 0-255 first)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()
    return (resize(x, size) / 255.0 * 2 - 1).to(dtype)


@torch.inference_mode()
def encode(vae: AutoencoderKL, images: torch.Tensor) -> torch.Tensor:
    """``[N, 3, H, W]`` in [-1, 1] -> scaled mean latents ``[N, 4, H//8, W//8]`` (no sampling)."""
    return vae.encode(images).latent_dist.mean * vae.config.scaling_factor


@torch.inference_mode()
def decode_depth(vae: AutoencoderKL, latents: torch.Tensor) -> torch.Tensor:
    """Depth latents ``[N, 4, h, w]`` -> depth ``[N, 8h, 8w]`` (mean of the 3 decoded channels)."""
    return vae.decode(latents / vae.config.scaling_factor).sample.mean(1)


def encode_depth(vae: AutoencoderKL, depth: torch.Tensor) -> torch.Tensor:
    """Depth ``[N, H, W]`` in about [-1, 1] -> latents ``[N, 4, H//8, W//8]`` (replicated to 3 channels)."""
    return encode(vae, depth[:, None].expand(-1, 3, -1, -1))
