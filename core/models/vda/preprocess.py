"""Frame pre-processing VDA was trained with: resize to multiples of 14 (bicubic), ImageNet normalisation; on the
device the network runs on."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MULTIPLE = 14
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
_MAX_ASPECT = 1.78  # wider frames get a smaller effective input size, so the long side stays bounded
_ASPECT_TARGET = 1.777


def effective_input_size(height: int, width: int, input_size: int) -> int:
    """Short-side target in pixels: ``input_size``, reduced for frames with aspect ratio > 1.78."""
    ratio = max(height, width) / min(height, width)
    if ratio > _MAX_ASPECT:
        input_size = int(input_size * _ASPECT_TARGET / ratio)
        input_size = round(input_size / MULTIPLE) * MULTIPLE
    return input_size


def _snap(value: float, minimum: int) -> int:
    size = int(np.round(value / MULTIPLE) * MULTIPLE)
    if size < minimum:
        size = math.ceil(value / MULTIPLE) * MULTIPLE
    return size


def network_size(height: int, width: int, input_size: int) -> tuple[int, int]:
    """Network input size (th, tw) in pixels for a ``height`` x ``width`` frame: multiples of 14,
    short side about the effective input size, aspect ratio kept (each side rounded to the nearest
    multiple of 14, half to even, but not below the effective size)."""
    target = effective_input_size(height, width, input_size)
    scale = max(target / height, target / width)
    return _snap(scale * height, target), _snap(scale * width, target)


def preprocess(frames: np.ndarray | torch.Tensor, input_size: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """Network input (N, 3, th, tw) float32 on ``device`` from RGB frames (N, H, W, 3) uint8 (numpy or torch).

    The uint8 frames are uploaded as they are (from pinned memory, without blocking, on CUDA) and converted there:
    [0, 1] float32, bicubic resize to ``network_size`` (a = -0.75, half-pixel centres, no antialiasing, no
    clipping: what the reference's OpenCV INTER_CUBIC does, to ~2e-5), then per-channel (v - mean) / std.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype not in (np.uint8, torch.uint8):
        raise ValueError(f"expected uint8 frames of shape (N, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    device = torch.device(device)
    n, height, width, _ = frames.shape
    th, tw = network_size(height, width, input_size)
    x = torch.from_numpy(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    if device.type == "cuda" and x.device.type == "cpu":
        x = x.pin_memory()
    x = x.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
    if (th, tw) != (height, width):
        x = F.interpolate(x, size=(th, tw), mode="bicubic", align_corners=False, antialias=False)
    mean = torch.tensor(MEAN, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()
