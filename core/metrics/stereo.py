"""Quality of a synthesised stereo view against the true one, by region, and the flicker of a synthesised video.

Regions of a right view (all (H, W) bool):

- ``all``: every pixel;
- ``covisible``: pixels the source (left) camera also sees: pure warping;
- ``disoccluded``: the rest (what the source view hides, and the screen-edge strip): hole filling;
- ``edges``: co-visible pixels within ``radius`` px of a jump in the true disparity (where warps tear or halo).

PSNR is over the pixels of a region (images in [0, 1]); SSIM is the mean of the SSIM map (Gaussian window, sigma
1.5 px, computed on the whole image per channel) over the region. Flicker is

    tRMSE = sqrt(mean(((P_t - P_t-1) - (G_t - G_t-1))^2))

over all pixels of all consecutive frame pairs, in 8-bit levels (0..255): the part of the frame-to-frame change that
the truth does not have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

REGIONS = ("all", "covisible", "disoccluded", "edges")


@dataclass(frozen=True)
class RegionScore:
    """PSNR (dB) and SSIM of one region; NaN for an empty region."""

    psnr: float
    ssim: float


def _as_unit(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 or float in [0, 1] -> float64 in [0, 1]."""
    image = np.asarray(image)
    return image.astype(np.float64) / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)


def psnr(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of (H, W, C) images in [0, 1] (or uint8) over the ``mask`` (H, W) pixels (all when None)."""
    err = (_as_unit(pred) - _as_unit(truth)) ** 2
    err = err if mask is None else err[mask]
    if err.size == 0:
        return float("nan")
    return float(10 * np.log10(1.0 / max(float(err.mean()), 1e-12)))


def ssim_map(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(H, W) SSIM map (mean over channels) of two (H, W, C) images in [0, 1] or uint8; window sigma 1.5 px."""
    a, b = _as_unit(pred), _as_unit(truth)
    c1, c2 = 0.01**2, 0.03**2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean(-1) if s.ndim == 3 else s


def depth_edges(disparity: np.ndarray, jump: float = 1.0, radius: int = 2) -> np.ndarray:
    """(H, W) bool: pixels within ``radius`` px of a jump of more than ``jump`` px between neighbouring disparities."""
    d = np.asarray(disparity, dtype=np.float32)
    step = np.zeros(d.shape, bool)
    step[:, 1:] |= np.abs(np.diff(d, axis=1)) > jump
    step[:, :-1] |= np.abs(np.diff(d, axis=1)) > jump
    step[1:] |= np.abs(np.diff(d, axis=0)) > jump
    step[:-1] |= np.abs(np.diff(d, axis=0)) > jump
    if radius > 0:
        kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
        step = cv2.dilate(step.astype(np.uint8), kernel).astype(bool)
    return step


def region_masks(covisible: np.ndarray, true_disparity: np.ndarray) -> dict[str, np.ndarray]:
    """The four scoring regions of a right view from its co-visibility (H, W) bool and true disparity (H, W) px."""
    covisible = np.asarray(covisible, bool)
    return {
        "all": np.ones_like(covisible),
        "covisible": covisible,
        "disoccluded": ~covisible,
        "edges": covisible & depth_edges(true_disparity),
    }


def score_view(
    pred: np.ndarray, truth: np.ndarray, covisible: np.ndarray, true_disparity: np.ndarray
) -> dict[str, RegionScore]:
    """PSNR/SSIM of a synthesised view (H, W, 3) against the true one, per region (see the module docstring).

    ``covisible``: (H, W) bool, true-view pixels the source camera also sees; ``true_disparity``: (H, W) px of the
    true view (for the edge region).
    """
    smap = ssim_map(pred, truth)
    out = {}
    for name, mask in region_masks(covisible, true_disparity).items():
        out[name] = RegionScore(psnr(pred, truth, mask), float(smap[mask].mean()) if mask.any() else float("nan"))
    return out


def trmse(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """Flicker of a synthesised video against the true one, in 8-bit levels (see the module docstring).

    ``pairs``: ``(predicted, true)`` frames, each (H, W, C) uint8 or float in [0, 1], in time order (streamed: two
    frames are held at a time). NaN with fewer than two frames.
    """
    total, count = 0.0, 0
    prev: tuple[np.ndarray, np.ndarray] | None = None
    for pred, truth in pairs:
        p, g = _as_unit(pred) * 255.0, _as_unit(truth) * 255.0
        if prev is not None:
            diff = (p - prev[0]) - (g - prev[1])
            total += float((diff**2).sum())
            count += diff.size
        prev = (p, g)
    return float(np.sqrt(total / count)) if count else float("nan")
