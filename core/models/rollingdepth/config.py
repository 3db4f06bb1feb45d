"""Tiny configurations of the RollingDepth components (for tests and CPU benchmarks) and their builders.

The real model's configurations come from its checkpoint (each component's ``config.json``, read by
``core.depth.rollingdepth.weights.load_model``); nothing here describes them. The tiny ones keep the block
structure of the real UNet/VAE (8-channel UNet input: RGB latent + noisy depth latent) at a size that runs on a CPU.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

#: latent channels of the SD2 VAE; the UNet input is [RGB latent, noisy depth latent].
LATENT_CHANNELS = 4


def tiny_unet_config(cross_attention_dim: int = 32) -> dict[str, Any]:
    """A few-hundred-kilobyte UNet with the same block types (for tests and the CPU benchmark)."""
    return {
        "sample_size": 8,
        "in_channels": 2 * LATENT_CHANNELS,
        "out_channels": LATENT_CHANNELS,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "block_out_channels": [16, 32],
        "layers_per_block": 1,
        "attention_head_dim": [2, 4],
        "cross_attention_dim": cross_attention_dim,
        "use_linear_projection": True,
        "norm_num_groups": 8,
        "norm_eps": 1e-5,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
    }


def tiny_vae_config() -> dict[str, Any]:
    """A tiny ``AutoencoderKL`` with the same 8x down-sampling and 4 latent channels."""
    return {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "block_out_channels": [8, 8, 16, 16],
        "layers_per_block": 1,
        "latent_channels": LATENT_CHANNELS,
        "norm_num_groups": 4,
        "sample_size": 64,
        "scaling_factor": 0.18215,
    }


def tiny_text_encoder_config(hidden_size: int = 32) -> CLIPTextConfig:
    """A 2-layer ``CLIPTextModel`` whose width matches :func:`tiny_unet_config`'s cross-attention."""
    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=hidden_size,
        hidden_act="gelu",
    )


def scheduler_config() -> dict[str, Any]:
    """``DDIMScheduler`` settings for random models, as in the checkpoint's ``scheduler_config.json`` (v-prediction,
    trailing spacing, zero terminal SNR); a loaded model uses the checkpoint's own file."""
    return {
        "num_train_timesteps": 1000,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "prediction_type": "v_prediction",
        "timestep_spacing": "trailing",
        "rescale_betas_zero_snr": True,
        "set_alpha_to_one": False,
        "steps_offset": 1,
        "clip_sample": False,
    }


def build_unet(config: dict[str, Any], device: str | torch.device = "cpu") -> UNet2DConditionModel:
    """Construct a randomly initialised UNet from ``config`` (``device="meta"``: shapes only, no memory)."""
    with torch.device(device):
        return UNet2DConditionModel(**config)


def build_vae(config: dict[str, Any], device: str | torch.device = "cpu") -> AutoencoderKL:
    """Construct a randomly initialised VAE from ``config`` (``device="meta"``: shapes only)."""
    with torch.device(device):
        return AutoencoderKL(**config)


def build_text_encoder(config: CLIPTextConfig, device: str | torch.device = "cpu") -> CLIPTextModel:
    """Construct a randomly initialised CLIP text encoder from ``config`` (``device="meta"``: shapes only)."""
    with torch.device(device):
        return CLIPTextModel(config)
