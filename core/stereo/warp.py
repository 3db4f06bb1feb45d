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
_PAD = 2  # spare target columns on each side of a row that catch the taps falling off it (dropped at the end)


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
    disparity = disparity.to(device=image.device, dtype=torch.float32)
    idx, wgt = _splat_taps(disparity, shift)
    d = disparity.reshape(-1)
    size = h * (w + 2 * _PAD)
    _hide_occluded(idx, wgt, d, size, tolerance)
    sources = torch.cat([image.to(torch.float32).reshape(3, -1), d[None]])
    values, holes = _accumulate(sources, idx, wgt, size)
    values, holes = values.view(4, h, -1), holes.view(h, -1)
    holes[:, :_PAD] = False
    holes[:, _PAD + w :] = False
    _fill_holes(values, holes, border)
    real = slice(_PAD, _PAD + w)
    return WarpResult(image=values[:3, :, real].to(image.dtype), disparity=values[3, :, real], holes=holes[:, real])


def _splat_taps(disparity: torch.Tensor, shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Where and how strongly every source pixel splats onto its two nearest target columns.

    ``disparity``: (H, W) px. Returns ``idx`` (H*W,) int64, the flat index of tap 0 (column ``floor(x + shift *
    d)``; tap 1 is the next column, ``idx + 1``), and ``wgt`` (2, H*W) float32, the linear weights of taps 0 and 1.
    Indices address a padded target grid (H, W + 4) whose spare columns (2 on each side) catch the taps that fall
    off the row: a tap-0 column outside [-2, W] has both taps off the row, as at the clamped columns -2 and W.
    """
    h, w = disparity.shape
    dev = disparity.device
    target = torch.arange(w, device=dev, dtype=torch.float32) + shift * disparity
    x0 = torch.floor(target)
    wgt = torch.empty(2, h * w, device=dev)
    torch.sub(target, x0, out=wgt[1].view(h, w))
    torch.sub(1.0, wgt[1], out=wgt[0])
    row_start = torch.arange(h, device=dev)[:, None] * (w + 2 * _PAD) + _PAD
    idx = x0.clamp_(-_PAD, w).to(torch.int64).add_(row_start)
    return idx.view(-1), wgt


def _hide_occluded(idx: torch.Tensor, wgt: torch.Tensor, d: torch.Tensor, size: int, tolerance: float) -> None:
    """Zero, in place, the weight of taps more than ``tolerance`` px of disparity from the surface at their target.

    The surface seen at a target pixel is the nearest (largest ``d``) among the taps that cover its centre (weight
    >= 0.5), or among all its taps where none covers it (a stretched surface). ``idx`` (N,), ``wgt`` (2, N): from
    :func:`_splat_taps`; ``d``: (N,) px of the source pixels; ``size``: number of target pixels.
    """
    # one amax pass: covering taps reduce into slots [0, size), the others into [size, 2 * size)
    nearest = torch.full((2 * size,), -torch.inf, device=d.device)
    for k in range(2):
        nearest[k:].scatter_reduce_(0, idx.add(wgt[k] < 0.5, alpha=size), d, "amax")
    covered, others = nearest[:size], nearest[size:]
    surface = torch.where(covered == -torch.inf, others, covered)
    for k in range(2):
        hidden = surface[k:].index_select(0, idx).sub_(d).abs_() > tolerance
        wgt[k].masked_fill_(hidden, 0.0)


def _accumulate(
    sources: torch.Tensor, idx: torch.Tensor, wgt: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean of the source channels over the taps landing on each target pixel.

    ``sources``: (C, N) per source pixel (colour and disparity); ``idx`` (N,), ``wgt`` (2, N): from
    :func:`_splat_taps`. Returns ``values`` (C, size), meaningless at holes, and ``holes`` (size,) bool, the target
    pixels that received less than ``_HOLE_WEIGHT`` in all.
    """
    c, n = sources.shape
    acc = torch.zeros(1 + c, size, device=sources.device)  # total weight, then the weighted channels
    terms = torch.empty(1 + c, n, device=sources.device)
    for k in range(2):
        terms[0] = wgt[k]
        torch.mul(sources, wgt[k], out=terms[1:])
        acc[:, k:].index_add_(1, idx, terms)
    weight, values = acc[0], acc[1:]
    holes = weight < _HOLE_WEIGHT
    return values.div_(weight.clamp_min_(_HOLE_WEIGHT)), holes


def _fill_holes(values: torch.Tensor, holes: torch.Tensor, border: Border) -> None:
    """Fill each horizontal run of holes, in place, from its farther (smaller-disparity) neighbour.

    ``values``: (C, H, W + 4) on the padded grid, disparity last along C; ``holes``: (H, W + 4) bool, never set on
    the spare columns (so runs never cross rows). ``border="black"`` zeroes the runs that touch the frame edge,
    ``"fill"`` only those with no neighbour at all.
    """
    pitch = holes.shape[-1]
    flat = values.view(values.shape[0], -1)
    q = holes.view(-1).nonzero().squeeze(1)  # hole positions in row-major order: a run is consecutive
    if q.numel() == 0:
        return
    starts = torch.ones_like(q, dtype=torch.bool)
    starts[1:] = q[1:] != q[:-1] + 1
    run = starts.cumsum(0) - 1
    left, right = q[starts][run] - 1, q[starts.roll(-1)][run] + 1
    has_left, has_right = left % pitch >= _PAD, right % pitch < pitch - _PAD
    d = flat[-1]
    use_left = has_left & (~has_right | (d[left] <= d[right]))
    fill = flat[:, torch.where(use_left, left, right)]
    empty = ~(has_left | has_right) if border == "fill" else ~(has_left & has_right)
    flat[:, q] = fill.masked_fill_(empty, 0.0)


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
