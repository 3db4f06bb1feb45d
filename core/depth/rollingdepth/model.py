"""The loaded RollingDepth components the pipeline drives, and how a snippet is denoised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from core.models.rollingdepth import (
    build_unet,
    build_vae,
    scheduler_config,
    set_cross_frame_attention,
    tiny_unet_config,
    tiny_vae_config,
)


@dataclass
class RollingDepthModel:
    """UNet + VAE in eval mode on one device and dtype, the scheduler settings, and the conditioning:
    the empty-prompt text embedding ``[1, T, D]`` (T = 2 for the real model: BOS + EOS, no padding)."""

    unet: UNet2DConditionModel
    vae: AutoencoderKL
    scheduler_config: dict[str, Any]
    text_embedding: torch.Tensor

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    def scheduler(self, steps: int) -> DDIMScheduler:
        """A fresh DDIM scheduler set to ``steps`` inference steps (eta 0)."""
        scheduler = DDIMScheduler.from_config(self.scheduler_config)
        scheduler.set_timesteps(steps, device=self.device)
        return scheduler


@torch.inference_mode()
def empty_prompt_embedding(tokenizer: CLIPTokenizer, text_encoder: CLIPTextModel) -> torch.Tensor:
    """Last hidden state of the empty prompt tokenised without padding, ``[1, 2, D]``."""
    ids = tokenizer("", padding="do_not_pad", return_tensors="pt").input_ids.to(text_encoder.device)
    return text_encoder(ids)[0]


def random_model(
    seed: int = 0,
    device: str = "cpu",
    unet_config: dict[str, Any] | None = None,
    vae_config: dict[str, Any] | None = None,
) -> RollingDepthModel:
    """A randomly initialised model (tiny configs by default) for tests and CPU benchmarks; no weights."""
    unet_config = unet_config or tiny_unet_config()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    unet = build_unet(unet_config).eval().to(device)
    vae = build_vae(vae_config or tiny_vae_config()).eval().to(device)
    width = unet_config["cross_attention_dim"]
    text = torch.randn(1, 2, width, generator=generator).to(device)
    return RollingDepthModel(unet, vae, scheduler_config(), text)


@torch.inference_mode()
def denoise_snippets(
    model: RollingDepthModel,
    scheduler: DDIMScheduler,
    rgb: torch.Tensor,
    noisy: torch.Tensor,
    timestep: int,
) -> torch.Tensor:
    """One DDIM step for a batch of snippets with cross-frame attention.

    rgb, noisy: latents ``[B, n, 4, h, w]``; returns the stepped depth latents ``[B, n, 4, h, w]``.
    """
    batch, frames = rgb.shape[:2]
    set_cross_frame_attention(model.unet, frames)
    sample = noisy.flatten(0, 1).to(model.dtype)
    unet_in = torch.cat([rgb.flatten(0, 1).to(model.dtype), sample], dim=1)
    t = torch.full((batch * frames,), timestep, device=model.device, dtype=torch.long)
    text = model.text_embedding.to(model.dtype).expand(batch * frames, -1, -1)
    velocity = model.unet(unet_in, t, encoder_hidden_states=text).sample
    stepped = scheduler.step(velocity, timestep, sample).prev_sample
    return stepped.unflatten(0, (batch, frames))
