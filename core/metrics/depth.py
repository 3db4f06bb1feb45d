"""Per-video depth accuracy: AbsRel and delta1 after a least-squares scale/shift fit in inverse depth.

Protocol (as in the Video Depth Anything evaluation):

1. Valid pixels are those with ground-truth depth ``gt > 0`` (metres), over every frame of the video.
2. The prediction is taken as inverse depth (relative models output affine-invariant inverse depth; a metric
   prediction ``d`` in metres is first turned into ``1 / d``). One scale ``s`` and shift ``t`` per *video* are fitted
   by least squares (float64 sums over all valid pixels of all frames) so that ``s * pred + t ~ 1 / gt``.
3. The aligned depth is ``1 / (s * pred + t)``, clipped to the ground truth's range over the video
   ``[min gt, max gt]`` (this also handles aligned inverse depth <= 0).
4. ``AbsRel = mean(|d - gt| / gt)`` and ``delta1 = mean(max(d / gt, gt / d) < 1.25)`` over all valid pixels of all
   frames (pixel-weighted, not a mean of per-frame means).

Everything streams: a video is visited twice (fit, then errors), one frame at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from core.geometry.camera import metric_to_inverse_depth

DELTA1_THRESHOLD = 1.25


@dataclass(frozen=True)
class Alignment:
    """Affine map from predicted to ground-truth inverse depth, and the clip range of the aligned depth (metres)."""

    scale: float
    shift: float
    min_depth: float
    max_depth: float

    def depth(self, pred_inv: np.ndarray) -> np.ndarray:
        """Aligned depth in metres, float64 [H, W], from predicted inverse depth [H, W]."""
        disp = self.scale * pred_inv.astype(np.float64) + self.shift
        with np.errstate(divide="ignore"):
            d = np.where(disp > 0, 1.0 / np.maximum(disp, 1e-12), self.max_depth)
        return np.clip(d, self.min_depth, self.max_depth)


class AffineFit:
    """Streaming least squares ``s * pred + t ~ target`` over the masked pixels of many frames (float64 sums)."""

    def __init__(self) -> None:
        self._sums = np.zeros(5)  # sum p^2, sum p, n, sum p*g, sum g
        self.min_target = np.inf
        self.max_target = -np.inf

    def add(self, pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> None:
        """Add one frame: pred, target float [H, W], mask bool [H, W]."""
        p = pred[mask].astype(np.float64)
        g = target[mask].astype(np.float64)
        self._sums += [p @ p, p.sum(), p.size, p @ g, g.sum()]
        if g.size:
            self.min_target = min(self.min_target, float(g.min()))
            self.max_target = max(self.max_target, float(g.max()))

    def solve(self) -> tuple[float, float]:
        """(s, t); (1, 0) when the system is singular (e.g. a constant prediction)."""
        a00, a01, n, b0, b1 = self._sums
        det = a00 * n - a01 * a01
        if n == 0 or abs(det) <= 1e-12 * max(a00 * n, 1e-300):
            return 1.0, 0.0
        return float((n * b0 - a01 * b1) / det), float((a00 * b1 - a01 * b0) / det)


def abs_rel(depth: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute relative error ``|d - gt| / gt`` over ``mask``; depth, gt [...] metres, mask bool [...]."""
    d, g = depth[mask], gt[mask]
    return float(np.mean(np.abs(d - g) / g)) if g.size else float("nan")


def delta1(depth: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of ``mask`` pixels with ``max(d / gt, gt / d) < 1.25``; depth, gt [...] metres (> 0)."""
    d, g = depth[mask], gt[mask]
    return float(np.mean(np.maximum(d / g, g / d) < DELTA1_THRESHOLD)) if g.size else float("nan")


@dataclass(frozen=True)
class DepthScores:
    """Per-video accuracy: AbsRel, delta1, the alignment used, and the number of valid pixels."""

    abs_rel: float
    delta1: float
    alignment: Alignment
    pixels: int


def to_inverse(pred: np.ndarray, metric: bool) -> np.ndarray:
    """Prediction as inverse depth: relative predictions already are; metric depth d (metres) becomes 1 / d."""
    if not metric:
        return pred.astype(np.float64)
    return metric_to_inverse_depth(pred)


def fit_alignment(pairs: Iterable[tuple[np.ndarray, np.ndarray]], metric: bool = False) -> Alignment:
    """Fit the per-video alignment from ``(pred [H, W], gt metres [H, W])`` frames (gt 0 = no measurement)."""
    fit = AffineFit()
    for pred, gt in pairs:
        mask = gt > 0
        fit.add(to_inverse(pred, metric), np.where(mask, 1.0 / np.where(mask, gt, 1.0), 0.0), mask)
    if not np.isfinite(fit.max_target):
        raise ValueError("no valid ground-truth pixel in the video")
    s, t = fit.solve()
    # targets are inverse depths: their extremes give the depth range
    return Alignment(s, t, min_depth=1.0 / fit.max_target, max_depth=1.0 / fit.min_target)


def evaluate_video(
    pairs: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]], metric: bool = False
) -> DepthScores:
    """AbsRel and delta1 of a video (protocol in the module docstring).

    pairs: called twice, each time yielding ``(pred [H, W], gt [H, W] metres)`` per frame; pred is relative inverse
    depth, or metres when ``metric``.
    """
    align = fit_alignment(pairs(), metric)
    err_sum, good, n = 0.0, 0, 0
    for pred, gt in pairs():
        mask = gt > 0
        d = align.depth(to_inverse(pred, metric))
        g = gt[mask].astype(np.float64)
        dm = d[mask]
        err_sum += float(np.sum(np.abs(dm - g) / g))
        good += int(np.count_nonzero(np.maximum(dm / g, g / dm) < DELTA1_THRESHOLD))
        n += g.size
    return DepthScores(abs_rel=err_sum / n, delta1=good / n, alignment=align, pixels=n)
