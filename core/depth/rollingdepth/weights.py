"""Loading the RollingDepth checkpoint (``prs-eth/rollingdepth-v1-0``) through huggingface_hub.

The weights are never redistributed: they are downloaded at run time into the Hugging Face cache (through
``core.models.hub``, the path VDA's weights take too), and their licence (RAIL++-M, with use-based restrictions) is
shown before they are first fetched. Only safetensors files are read; each component's config comes from the
checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from core.depth.rollingdepth.model import RollingDepthModel, empty_prompt_embedding
from core.errors import DepthshotError
from core.models.hub import HubSource, fetch

log = logging.getLogger(__name__)

REPO_ID = "prs-eth/rollingdepth-v1-0"
LICENCE_FILE = "LICENSE-MODEL.txt"
LICENCE = (
    "RAIL++-M (Open RAIL++-M, (c) 2024 PRS ETH Zurich; VAE and text encoder from Stable Diffusion 2, CreativeML Open "
    "RAIL++-M). By using the weights you accept its use-based restrictions (paragraph 5), which you must pass on to "
    f"anyone you share outputs or weights with. Full text: https://huggingface.co/{REPO_ID}/blob/main/{LICENCE_FILE}"
)
_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


def _unet_file(fp16: bool) -> str:
    return "unet/diffusion_pytorch_model.fp16.safetensors" if fp16 else "unet/diffusion_pytorch_model.safetensors"


def hub_source(fp16: bool) -> HubSource:
    """The checkpoint's files on the hub (the fp16 UNet variant when the model runs in fp16)."""
    required = ("model_index.json", "unet/config.json", _unet_file(fp16), "vae/config.json",
                "vae/diffusion_pytorch_model.safetensors", "text_encoder/config.json", "text_encoder/model.safetensors",
                "scheduler/scheduler_config.json", "tokenizer")
    return HubSource(REPO_ID, (*required[:-1], LICENCE_FILE, "tokenizer/*"), required, LICENCE,
                     "RollingDepth weights", "download them once online or pass --weights DIR",
                     size="3.5 GB" if fp16 else "5.2 GB")


def resolve_checkpoint(weights: Path | None, fp16: bool) -> Path:
    """The checkpoint folder: ``weights`` if given (a local copy in the diffusers layout), else the hub's
    (``core.models.hub.fetch``: the cache, else a download with the licence shown first, never offline)."""
    if weights is not None:
        weights = Path(weights)
        missing = [c for c in _COMPONENTS if not (weights / c).is_dir()]
        if missing:
            raise DepthshotError(f"{weights} is not a RollingDepth checkpoint folder (missing {', '.join(missing)})")
        return weights
    return fetch(hub_source(fp16))


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
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", variant=variant, torch_dtype=dtype,
                                                    use_safetensors=True)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=dtype, use_safetensors=True)
        tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
        text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", use_safetensors=True)
        scheduler = dict(DDIMScheduler.load_config(folder, subfolder="scheduler"))
    except (OSError, ValueError) as exc:
        raise DepthshotError(f"could not load the RollingDepth checkpoint from {folder}: {exc}") from None
    text = empty_prompt_embedding(tokenizer, text_encoder.eval()).to(device=device, dtype=dtype)
    return RollingDepthModel(unet.eval().to(device), vae.eval().to(device), scheduler, text)
