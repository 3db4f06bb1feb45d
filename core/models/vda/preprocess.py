"""Frame pre-processing VDA was trained with: resize to multiples of 14 (bicubic), ImageNet normalisation."""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

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


def preprocess(frames: np.ndarray, input_size: int) -> torch.Tensor:
    """Network input (N, 3, th, tw) float32 from RGB frames (N, H, W, 3) uint8.

    Bicubic resize (OpenCV INTER_CUBIC, no clipping) of the [0, 1] float image to ``network_size``, then
    per-channel (v - mean) / std computed in float64.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames of shape (N, H, W, 3), got {frames.dtype} {frames.shape}")
    n, height, width, _ = frames.shape
    th, tw = network_size(height, width, input_size)
    mean = np.asarray(MEAN, dtype=np.float64)
    std = np.asarray(STD, dtype=np.float64)
    out = np.empty((n, 3, th, tw), dtype=np.float32)
    for i, frame in enumerate(frames):
        image = cv2.resize(frame.astype(np.float32) / 255.0, (tw, th), interpolation=cv2.INTER_CUBIC)
        out[i] = ((image - mean) / std).astype(np.float32).transpose(2, 0, 1)
    return torch.from_numpy(out)
