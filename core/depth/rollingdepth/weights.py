"""Loading the RollingDepth checkpoint (``prs-eth/rollingdepth-v1-0``) through huggingface_hub.

The weights are never redistributed: they are downloaded at run time into the Hugging Face cache,
and their licence (RAIL++-M, with use-based restrictions) is shown when they are first fetched.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from huggingface_hub import snapshot_download
from transformers import CLIPTextModel, CLIPTokenizer

from core.depth.rollingdepth.model import RollingDepthModel, empty_prompt_embedding
from core.errors import DepthshotError

log = logging.getLogger(__name__)

REPO_ID = "prs-eth/rollingdepth-v1-0"
LICENCE_FILE = "LICENSE-MODEL.txt"
LICENCE_NOTICE = (
    "RollingDepth weights (%s) are licensed under RAIL++-M (Open RAIL++-M, (c) 2024 PRS ETH Zurich; "
    "VAE and text encoder from Stable Diffusion 2, CreativeML Open RAIL++-M). By using them you accept "
    "its use-based restrictions (paragraph 5), which you must pass on to anyone you share outputs or "
    "weights with. Full text: %s"
)
_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


def _patterns(fp16: bool) -> list[str]:
    unet = "unet/diffusion_pytorch_model.fp16.safetensors" if fp16 else "unet/diffusion_pytorch_model.safetensors"
    return [
        "model_index.json",
        LICENCE_FILE,
        "unet/config.json",
        unet,
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/*",
        "scheduler/scheduler_config.json",
    ]


def resolve_checkpoint(weights: Path | None, fp16: bool) -> Path:
    """The checkpoint folder: ``weights`` if given (a local copy in the diffusers layout), else the
    Hugging Face cache, else a download (refused under ``HF_HUB_OFFLINE=1``) with the licence shown."""
    if weights is not None:
        weights = Path(weights)
        missing = [c for c in _COMPONENTS if not (weights / c).is_dir()]
        if missing:
            raise DepthshotError(f"{weights} is not a RollingDepth checkpoint folder (missing {', '.join(missing)})")
        return weights
    patterns = _patterns(fp16)
    try:
        return Path(snapshot_download(REPO_ID, allow_patterns=patterns, local_files_only=True))
    except Exception:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
            raise DepthshotError(
                f"RollingDepth weights ({REPO_ID}) are not in the Hugging Face cache and HF_HUB_OFFLINE is set; "
                "download them once online or pass --weights DIR"
            ) from None
    log.info("downloading %s (about %s GB) ...", REPO_ID, "3.5" if fp16 else "5.2")
    try:
        folder = Path(snapshot_download(REPO_ID, allow_patterns=patterns))
    except Exception as exc:
        raise DepthshotError(f"could not download RollingDepth weights ({REPO_ID}): {exc}") from None
    log.warning(LICENCE_NOTICE, REPO_ID, folder / LICENCE_FILE)
    return folder


def load_model(weights: Path | None, device: str, precision: str) -> RollingDepthModel:
    """Load UNet, VAE, scheduler settings and the empty-prompt embedding onto ``device``.

    ``precision``: "fp32", "fp16" or "bf16", the dtype the model runs at (the engine picks fp32 on a CPU unless
    told otherwise, see ``core.depth.engines.rollingdepth.run_precision``).
    """
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if precision not in dtypes:
        raise ValueError(f"precision must be one of {', '.join(dtypes)}, not {precision!r}")
    fp16 = precision == "fp16"
    dtype = dtypes[precision]
    folder = resolve_checkpoint(weights, fp16)
    variant = "fp16" if fp16 and (folder / "unet" / "diffusion_pytorch_model.fp16.safetensors").exists() else None
    try:
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", variant=variant, torch_dtype=dtype)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=dtype)
        tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
        text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder")
        scheduler = dict(DDIMScheduler.load_config(folder, subfolder="scheduler"))
    except (OSError, ValueError) as exc:
        raise DepthshotError(f"could not load the RollingDepth checkpoint from {folder}: {exc}") from None
    text = empty_prompt_embedding(tokenizer, text_encoder.eval()).to(device=device, dtype=dtype)
    return RollingDepthModel(unet.eval().to(device), vae.eval().to(device), scheduler, text)
