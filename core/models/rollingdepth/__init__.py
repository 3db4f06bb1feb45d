"""RollingDepth network pieces on stock diffusers/transformers classes.

The UNet, VAE and text encoder are the Stable Diffusion 2 classes unchanged (the UNet takes 8 input
channels: RGB latent + noisy depth latent); the only change RollingDepth makes is cross-frame
self-attention, provided here as an attention processor.
"""

from core.models.rollingdepth.attention import CrossFrameAttnProcessor, set_cross_frame_attention
from core.models.rollingdepth.config import (
    build_text_encoder,
    build_unet,
    build_vae,
    scheduler_config,
    tiny_text_encoder_config,
    tiny_unet_config,
    tiny_vae_config,
)

__all__ = [
    "CrossFrameAttnProcessor",
    "set_cross_frame_attention",
    "build_text_encoder",
    "build_unet",
    "build_vae",
    "scheduler_config",
    "tiny_text_encoder_config",
    "tiny_unet_config",
    "tiny_vae_config",
]
