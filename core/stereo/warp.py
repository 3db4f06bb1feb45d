"""View synthesis: forward-warp one RGB frame by a per-pixel horizontal disparity.

Conventions: disparity ``d`` is in pixels, ``d = x_left - x_right``; larger ``d`` is nearer (positive = in front
of the screen, negative = behind it). A view is produced by moving every source pixel to ``x + shift * d``:
``shift = +0.5`` gives the left eye and ``-0.5`` the right eye of a centre image, ``-1`` the right eye of a left image.

The warp splats each source pixel linearly onto its two nearest target columns (sub-pixel accurate), keeps only the
nearest surface per target pixel (a z-buffer on disparity with a small tolerance so one surface still blends
smoothly), and fills the disoccluded holes from their background side. Everything runs in torch on the device of
the input, CPU or CUDA alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import DepthshotError

Mode = Literal["both_half", "right_only"]
Border = Literal["fill", "black"]
ArrayLike = TypeVar("ArrayLike", torch.Tensor, np.ndarray)

_HOLE_WEIGHT = 1e-3  # a target pixel that received less splat weight than this is a hole


@dataclass
class WarpResult:
    """One synthesised view.

    ``image``: (3, H, W) float in the input's range; ``disparity``: (H, W) px, the disparity of the surface seen at
    each target pixel (background side's value in filled holes); ``holes``: (H, W) bool, pixels nothing landed on
    (disocclusions and screen borders) before they were filled.
    """

    image: torch.Tensor
    disparity: torch.Tensor
    holes: torch.Tensor


def dilate_foreground(disparity: torch.Tensor, radius: int) -> torch.Tensor:
    """Grow near surfaces sideways by ``radius`` px (a horizontal max filter on disparity).

    Estimated depth edges are soft and tend to lag behind the colour edge; dilating the foreground makes the pixels
    just outside an object move with it instead of tearing off into a halo. ``disparity``: (H, W) px.
    """
    if radius <= 0:
        return disparity
    return F.max_pool1d(disparity[:, None, :], kernel_size=2 * radius + 1, stride=1, padding=radius)[:, 0, :]


def warp_view(
    image: torch.Tensor,
    disparity: torch.Tensor,
    shift: float,
    *,
    tolerance: float = 1.0,
    border: Border = "fill",
) -> WarpResult:
    """Forward-warp ``image`` (3, H, W) float by ``shift * disparity`` (H, W) px with a z-buffer and hole filling.

    ``tolerance`` (px of disparity): contributions this close to the nearest surface at a target pixel are blended
    (one surface), farther ones are hidden. ``border``: ``"fill"`` extends content into the empty strip a shift
    leaves at the frame edge, ``"black"`` leaves that strip black (a floating window).
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise DepthshotError(f"image must be (3, H, W), got {tuple(image.shape)}")
    if disparity.shape != image.shape[1:]:
        raise DepthshotError(f"disparity {tuple(disparity.shape)} does not match image {tuple(image.shape[1:])}")
    if not torch.isfinite(disparity).all():
        raise DepthshotError("disparity contains NaN or infinite values")
    _, h, w = image.shape
    dev = image.device
    disparity = disparity.to(device=dev, dtype=torch.float32)
    vals = torch.cat([image.to(torch.float32), disparity[None]], 0).permute(1, 2, 0).reshape(h * w, 4)
    d = disparity.reshape(h * w)

    target = torch.arange(w, device=dev, dtype=torch.float32)[None, :] + shift * disparity
    x0 = torch.floor(target)
    frac = (target - x0).reshape(h * w)
    x0 = x0.to(torch.int64).reshape(h * w)
    row = torch.arange(h, device=dev).repeat_interleave(w) * w

    # two taps per source pixel; taps falling outside the row go to a spare slot (index h*w) that is dropped
    idx = torch.empty(2, h * w, dtype=torch.int64, device=dev)
    wgt = torch.stack([1.0 - frac, frac])
    for k in range(2):
        xi = x0 + k
        idx[k] = (row + xi).masked_fill_((xi < 0) | (xi >= w), h * w)
    idx, wgt = idx.reshape(-1), wgt.reshape(-1)
    dsp = d.repeat(2)

    # z-buffer reference per target pixel: the nearest surface among contributions that cover the pixel centre
    # (weight >= 0.5), or among all contributions where none covers it (a stretched surface).
    neg = torch.full((h * w + 1,), -torch.inf, device=dev)
    ref = neg.scatter_reduce(0, idx, dsp.masked_fill(wgt < 0.5, -torch.inf), "amax")
    uncovered = ref == -torch.inf
    ref[uncovered] = neg.scatter_reduce(0, idx, dsp, "amax")[uncovered]
    wgt = wgt.masked_fill_((dsp - ref[idx]).abs_() > tolerance, 0.0)

    weight = torch.zeros(h * w + 1, device=dev).index_add_(0, idx, wgt)[: h * w]
    acc = torch.zeros(h * w + 1, 4, device=dev).index_add_(0, idx, vals.repeat(2, 1) * wgt[:, None])[: h * w]
    holes = weight < _HOLE_WEIGHT
    out = (acc / weight.clamp_min(_HOLE_WEIGHT)[:, None]).reshape(h, w, 4)
    filled = _fill_holes(out, holes.reshape(h, w), border)
    return WarpResult(
        image=filled[..., :3].permute(2, 0, 1).to(image.dtype),
        disparity=filled[..., 3],
        holes=holes.reshape(h, w),
    )


def _fill_holes(values: torch.Tensor, holes: torch.Tensor, border: Border) -> torch.Tensor:
    """Fill each horizontal run of holes from its farther (smaller-disparity) neighbour.

    ``values``: (H, W, C) with disparity in the last channel; ``holes``: (H, W) bool.
    """
    h, w, _ = values.shape
    cols = torch.arange(w, device=values.device).expand(h, w)
    left = torch.where(holes, torch.full_like(cols, -1), cols).cummax(dim=1).values
    right = torch.where(holes, torch.full_like(cols, w), cols).flip(1).cummin(dim=1).values.flip(1)
    has_left, has_right = left >= 0, right < w
    v_left = values.gather(1, left.clamp(0, w - 1)[..., None].expand(-1, -1, values.shape[2]))
    v_right = values.gather(1, right.clamp(0, w - 1)[..., None].expand(-1, -1, values.shape[2]))
    use_left = has_left & (~has_right | (v_left[..., 3] <= v_right[..., 3]))
    fill = torch.where(use_left[..., None], v_left, v_right)
    empty = ~(has_left | has_right)
    if border == "black":
        empty = empty | ~(has_left & has_right)
    fill = torch.where(empty[..., None], torch.zeros_like(fill), fill)
    return torch.where(holes[..., None], fill, values)


def synthesize_views(
    image: ArrayLike,
    disparity: torch.Tensor | np.ndarray,
    *,
    mode: Mode = "both_half",
    dilate: int = 0,
    tolerance: float = 1.0,
    border: Border = "fill",
) -> tuple[ArrayLike, ArrayLike]:
    """Synthesise a stereo pair from one RGB frame and its disparity.

    ``image``: (H, W, 3) uint8 or float ndarray/tensor; ``disparity``: (H, W) px (``x_left - x_right``, larger =
    nearer). ``mode="both_half"`` shifts both eyes half-way (the input is the centre view); ``"right_only"`` keeps the
    input as the left eye. ``dilate``: foreground edge dilation in px. Returns ``(left, right)``, each (H, W, 3), of the
    input's type, dtype and device.
    """
    if mode not in ("both_half", "right_only"):
        raise DepthshotError(f"unknown mode {mode!r} (both_half, right_only)")
    if border not in ("fill", "black"):
        raise DepthshotError(f"unknown border {border!r} (fill, black)")
    if dilate < 0:
        raise DepthshotError(f"dilate must be >= 0, got {dilate}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise DepthshotError(f"image must be (H, W, 3) RGB, got shape {tuple(image.shape)}")
    as_numpy = isinstance(image, np.ndarray)
    if not (str(image.dtype).endswith(("uint8", "float32", "float64", "float16"))):
        raise DepthshotError(f"image must be uint8 or float, got {image.dtype}")
    src = torch.from_numpy(np.ascontiguousarray(image)) if as_numpy else image
    disp = torch.from_numpy(np.asarray(disparity, dtype=np.float32)) if isinstance(disparity, np.ndarray) else disparity
    chw = src.permute(2, 0, 1).to(torch.float32)
    disp = dilate_foreground(disp.to(device=src.device, dtype=torch.float32), dilate)
    if mode == "both_half":
        views = [warp_view(chw, disp, s, tolerance=tolerance, border=border).image for s in (0.5, -0.5)]
    else:
        views = [chw, warp_view(chw, disp, -1.0, tolerance=tolerance, border=border).image]
    out = []
    for v in views:
        v = v.permute(1, 2, 0)
        if not src.dtype.is_floating_point:
            v = v.round().clamp(0, 255)
        v = v.to(src.dtype)
        out.append(v.numpy() if as_numpy else v)
    return out[0], out[1]
