"""Registry of the official Video Depth Anything checkpoints, and resolving/verifying/loading them.

Resolution order: an explicit local path, then the Hugging Face cache, then a download with ``huggingface_hub``
(never when ``HF_HUB_OFFLINE`` is set), through ``core.models.hub``, the path RollingDepth's weights take too. Files are read safely (``torch.load(weights_only=True)`` or safetensors).

SHA-256 policy: a file that came from the hub (cache or download) must match the registry's SHA-256, otherwise it
is treated as a corrupted/incomplete download and refused. A file given explicitly by the user is loaded even when
its hash differs (converted ``.safetensors``, fine-tunes), provided its keys and shapes are those of the requested
variant; a warning is logged. A registry entry whose SHA-256 is unknown (None) is not verified.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import DepthshotError
from core.models.hub import HubSource, fetch
from core.models.vda import ENCODERS, VideoDepthAnything

logger = logging.getLogger(__name__)

APACHE = "Apache-2.0"
CC_BY_NC = "CC-BY-NC-4.0 (non-commercial use only)"


@dataclass(frozen=True)
class ModelSpec:
    """One official checkpoint: where it lives on the hub, its SHA-256 and licence, and the network it fits."""

    model_id: str
    repo_id: str
    filename: str
    sha256: str | None
    licence: str
    encoder: str
    metric: bool


# SHA-256 values are the Git LFS object ids shown on the Hugging Face file pages (cross-checked with
# independent projects that pin the same files).
MODELS: dict[str, ModelSpec] = {
    spec.model_id: spec
    for spec in (
        ModelSpec("vda-s", "depth-anything/Video-Depth-Anything-Small", "video_depth_anything_vits.pth",
                  "13379300b739e659f076a59d52e9801bd8d38c541a7e71f73bbca4dcfb013609", APACHE, "vits", False),
        ModelSpec("vda-b", "depth-anything/Video-Depth-Anything-Base", "video_depth_anything_vitb.pth",
                  "775e578e8f9431ec0496514aa466bd0a1f67c28d0f518267809f35a43c04329b", CC_BY_NC, "vitb", False),
        ModelSpec("vda-l", "depth-anything/Video-Depth-Anything-Large", "video_depth_anything_vitl.pth",
                  "43df27c6b396042ba34ff7b798ab279f64d204d2e86d7a373968f8fa36d0e6fa", CC_BY_NC, "vitl", False),
        ModelSpec("vda-s-metric", "depth-anything/Metric-Video-Depth-Anything-Small",
                  "metric_video_depth_anything_vits.pth",
                  "3c28432b4e1f0d7bb31cad5151b6313b49457db5aa58d82e85bfb0f8b1311b33", APACHE, "vits", True),
        ModelSpec("vda-b-metric", "depth-anything/Metric-Video-Depth-Anything-Base",
                  "metric_video_depth_anything_vitb.pth",
                  "f6f58576b9680a112f2428d4f39aff92656d3ae85745b0164675ace8d5b1fade", CC_BY_NC, "vitb", True),
        ModelSpec("vda-l-metric", "depth-anything/Metric-Video-Depth-Anything-Large",
                  "metric_video_depth_anything_vitl.pth",
                  "24eba25342e7ee0f054be25da6a852ebd7cfa40cd6bf41a353ecb6abfe24e620", CC_BY_NC, "vitl", True),
    )
}


@dataclass
class LoadedModel:
    """A VDA network in eval mode with its weights, and where those weights came from."""

    model: VideoDepthAnything
    spec: ModelSpec
    sha256: str
    path: Path


def get_spec(model_id: str) -> ModelSpec:
    """Registry entry of ``model_id`` (e.g. ``vda-l``); DepthshotError for an unknown id."""
    if model_id not in MODELS:
        raise DepthshotError(f"unknown model {model_id!r} (available: {', '.join(MODELS)})")
    return MODELS[model_id]


def _download_hint(spec: ModelSpec) -> str:
    return (
        f"download it where there is network with `hf download {spec.repo_id} {spec.filename}` (then copy the "
        f"Hugging Face cache), or fetch https://huggingface.co/{spec.repo_id}/resolve/main/{spec.filename} "
        f"and pass it with --weights PATH"
    )


def hub_source(spec: ModelSpec) -> HubSource:
    """Where the checkpoint of ``spec`` comes from on the hub."""
    return HubSource(spec.repo_id, (spec.filename,), (spec.filename,), spec.licence, f"weights of {spec.model_id}",
                     _download_hint(spec))


def resolve_weights(model_id: str, weights: Path | None = None) -> Path:
    """Local path of the checkpoint: ``weights`` if given, else the Hugging Face cache, else a download
    (``core.models.hub.fetch``: honours ``HF_HUB_OFFLINE``, logs the licence before the first download)."""
    spec = get_spec(model_id)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise DepthshotError(f"weights file not found: {path}")
        return path
    return fetch(hub_source(spec)) / spec.filename


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    if path.stat().st_size >= 2**28:
        logger.info("checking the SHA-256 of %s", path)
    with open(path, "rb") as f:
        while chunk := f.read(2**22):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a ``.pth`` state dict (read with ``weights_only=True``), on CPU."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch/safetensors raise many types for damaged files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise DepthshotError(f"cannot read weights file {path} (truncated or corrupted?): {reason}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DepthshotError(f"{path} is not a state dict of tensors")
    return state


def _encoder_of(state: dict[str, torch.Tensor]) -> str | None:
    """Which ViT a checkpoint was made for, judged from its embedding width and depth."""
    pos = state.get("pretrained.pos_embed")
    if pos is None:
        return None
    depth = len({k.split(".")[2] for k in state if k.startswith("pretrained.blocks.")})
    for name, cfg in ENCODERS.items():
        if pos.shape[-1] == cfg.embed_dim and depth == cfg.depth:
            return name
    return None


def check_layout(state: dict[str, torch.Tensor], model: VideoDepthAnything, spec: ModelSpec, path: Path) -> None:
    """DepthshotError unless ``state`` has exactly the keys and shapes of ``model`` (the variant of ``spec``)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if got == expected:
        return
    found = _encoder_of(state)
    if found is not None and found != spec.encoder:
        ids = " / ".join(s.model_id for s in MODELS.values() if s.encoder == found)
        raise DepthshotError(
            f"{path} is a {found} checkpoint ({ids}), but {spec.model_id} needs {spec.encoder}: "
            "choose the matching model"
        )
    missing = sorted(expected.keys() - got.keys())
    if missing:
        raise DepthshotError(
            f"{path} is not a Video Depth Anything {spec.encoder} checkpoint: "
            f"{len(missing)} keys missing, e.g. {missing[0]}"
        )
    unexpected = sorted(got.keys() - expected.keys())
    if unexpected:
        raise DepthshotError(f"{path} has {len(unexpected)} unexpected keys for {spec.model_id}, e.g. {unexpected[0]}")
    key = next(k for k in expected if expected[k] != got[k])
    raise DepthshotError(f"{path}: {key} has shape {list(got[key])}, {spec.model_id} needs {list(expected[key])}")


def load_vda(model_id: str, weights: Path | None = None, device: str | torch.device = "cpu") -> LoadedModel:
    """Resolve, verify and load the checkpoint of ``model_id`` into a float32 model in eval mode on ``device``.

    Cast with ``loaded.model.to(dtype)`` or run under autocast for fp16/bf16.
    """
    spec = get_spec(model_id)
    path = resolve_weights(model_id, weights)
    sha256 = file_sha256(path)
    official = spec.sha256 is None or sha256 == spec.sha256
    if spec.sha256 is None:
        logger.info("no known SHA-256 for %s: %s not verified", model_id, path)
    elif not official and weights is None:
        raise DepthshotError(
            f"{path} does not match the official SHA-256 of {model_id} (corrupted or incomplete download): "
            f"delete it and run again to download it afresh"
        )
    state = read_state_dict(path)
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        model = VideoDepthAnything(spec.encoder, metric=spec.metric)
    check_layout(state, model, spec, path)
    model.load_state_dict(state, strict=True, assign=True)
    if not official:
        logger.warning(
            "%s is not the official %s file (sha256 %s); loading it because its layout matches %s",
            path, spec.filename, sha256, spec.encoder,
        )
    model = model.float().to(device).eval()
    return LoadedModel(model=model, spec=spec, sha256=sha256, path=path)
