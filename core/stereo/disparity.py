"""Depth pass values -> screen disparity in pixels.

Screen disparity is linear in inverse depth, and relative models give inverse depth up to an affine map, so each
shot's robust range (its 2nd..98th percentile, from the depth pass manifest) is mapped to ``[0, 1]`` "nearness" once
per shot, never per frame (no breathing). Nearness ``n`` becomes disparity ``D * (n - c)``: ``D`` is the total
parallax budget (``divergence`` % of the width, optionally capped for a physical screen) and ``c`` the convergence,
the nearness that sits on the screen plane (0 = far, 1 = near). Metric depth can instead give geometrically correct
disparity ``fx * ipd / z`` from the field of view and the interpupillary distance, shifted by a per-shot constant so
the convergence plane has zero parallax.

Disparity convention: ``x_left - x_right`` in pixels, positive in front of the screen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.depth.depth_pass import Shot
from core.geometry.camera import metric_to_inverse_depth
from core.errors import DepthshotError

DisparityMode = Literal["relative", "metric"]
COMFORT_DEG = 1.0
"""Largest comfortable angular disparity on either side of the screen (the common one-degree rule)."""


@dataclass
class DisparityConfig:
    """How depth becomes disparity.

    ``divergence``: total parallax between nearest and farthest point, % of the frame width.
    ``convergence``: nearness on the screen plane, 0 = far ... 1 = near.
    ``auto_convergence``: follow the subject (the centre of the frame) instead, smoothed over ``smoothing_s`` s.
    ``mode``: "relative" (per-shot normalised, any pass) or "metric" (geometric, metric passes; uses ``ipd`` and the
    horizontal field of view). ``screen_width``/``viewing_distance`` (m): cap the parallax to what is comfortable on
    that screen (relative mode); ``ipd`` (m): interpupillary distance.
    """

    divergence: float = 2.0
    convergence: float = 0.5
    auto_convergence: bool = False
    smoothing_s: float = 1.0
    mode: DisparityMode = "relative"
    screen_width: float | None = None
    viewing_distance: float | None = None
    ipd: float = 0.063

    def __post_init__(self) -> None:
        if not 0 < self.divergence <= 20:
            raise DepthshotError(f"divergence must be in (0, 20] % of the width, got {self.divergence}")
        if not 0 <= self.convergence <= 1:
            raise DepthshotError(f"convergence must be between 0 (far) and 1 (near), got {self.convergence}")
        if self.smoothing_s < 0:
            raise DepthshotError(f"convergence smoothing must be >= 0 s, got {self.smoothing_s}")
        if self.mode not in ("relative", "metric"):
            raise DepthshotError(f"unknown disparity mode {self.mode!r} (relative, metric)")
        if not 0.03 <= self.ipd <= 0.1:
            raise DepthshotError(f"ipd must be given in metres (0.03-0.1), got {self.ipd}")
        if (self.screen_width is None) != (self.viewing_distance is None):
            raise DepthshotError("give --screen-width and --viewing-distance together")
        if self.screen_width is not None:
            if self.mode == "metric":
                raise DepthshotError("--screen-width/--viewing-distance apply to relative disparity, not metric")
            if not (self.screen_width > 0 and self.viewing_distance > 0):
                raise DepthshotError("screen width and viewing distance must be positive (metres)")

    def budget_px(self, width: int, convergence: float) -> float:
        """Total parallax ``D`` in px for a frame ``width`` px wide (relative mode), after the physical caps."""
        budget = self.divergence / 100.0 * width
        if self.screen_width is None:
            return budget
        px_per_m = width / self.screen_width
        comfort = self.viewing_distance * math.tan(math.radians(COMFORT_DEG)) * px_per_m
        far_limit = min(comfort, self.ipd * px_per_m)  # behind the screen the eyes must never diverge
        if convergence < 1:
            budget = min(budget, comfort / (1 - convergence))
        if convergence > 0:
            budget = min(budget, far_limit / convergence)
        return budget


def nearness(raw: np.ndarray, shot: Shot, kind: str) -> np.ndarray:
    """Per-shot robust normalisation: raw depth-pass values (H, W) -> (H, W) float32 in [0, 1], 1 = near.

    Relative inverse depth is mapped linearly from the shot's p2..p98; metric depth (m) is inverted first.
    Missing metric values (<= 0) count as far.
    """
    lo, hi = _inverse_range(shot, kind)
    inv = _inverse(raw, kind)
    return np.clip((inv - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def relative_disparity(near: np.ndarray, cfg: DisparityConfig, width: int, convergence: float) -> np.ndarray:
    """Disparity (H, W) px from nearness (H, W) in [0, 1] for a frame ``width`` px wide."""
    return (cfg.budget_px(width, convergence) * (near - convergence)).astype(np.float32)


def metric_disparity(
    depth: np.ndarray, shot: Shot, cfg: DisparityConfig, fx: float, convergence: float
) -> np.ndarray:
    """Geometric disparity (H, W) px from metric depth (H, W) m: ``fx * ipd * (1/z - 1/z0)``.

    ``fx``: focal length in px of the frame being warped; the zero-parallax depth ``z0`` sits at ``convergence``
    between the shot's robust far and near inverse depth.
    """
    far, near = _inverse_range(shot, "metric_depth")
    zero = far + convergence * (near - far)
    return (fx * cfg.ipd * (_inverse(depth, "metric_depth") - zero)).astype(np.float32)


def subject_nearness(near: np.ndarray) -> float:
    """The subject's nearness in one frame: the median over the central half of the frame (H, W)."""
    h, w = near.shape
    return float(np.median(near[h // 4 : h - h // 4, w // 4 : w - w // 4]))


def convergence_track(
    subject: Sequence[float], timestamps: Sequence[float], shot_starts: Sequence[int], smoothing_s: float
) -> np.ndarray:
    """Smooth per-frame subject nearness (N,) into a convergence per frame (N,) that follows it without jitter.

    A first-order low-pass with time constant ``smoothing_s`` run forwards and then backwards (no lag), restarted
    at every shot start (index into the N frames) so a cut moves the screen plane at once.
    """
    values = np.asarray(subject, dtype=np.float64)
    times = np.asarray(timestamps, dtype=np.float64)
    out = values.copy()
    bounds = sorted({0, *shot_starts, len(values)})
    for a, b in zip(bounds[:-1], bounds[1:]):
        if smoothing_s > 0 and b - a > 1:
            alpha = 1.0 - np.exp(-np.diff(times[a:b]) / smoothing_s)
            seg = out[a:b]
            for k in range(1, len(seg)):
                seg[k] = seg[k - 1] + alpha[k - 1] * (seg[k] - seg[k - 1])
            for k in range(len(seg) - 2, -1, -1):
                seg[k] = seg[k + 1] + alpha[k] * (seg[k] - seg[k + 1])
    return out.clip(0.0, 1.0)


def _inverse(raw: np.ndarray, kind: str) -> np.ndarray:
    if kind == "metric_depth":
        return metric_to_inverse_depth(raw)
    return raw.astype(np.float64)


def _inverse_range(shot: Shot, kind: str) -> tuple[float, float]:
    """The shot's robust (far, near) inverse-depth bounds."""
    if kind == "metric_depth":
        if not shot.p2 > 0:
            raise DepthshotError(f"shot {shot.index}: metric depth percentiles must be positive, got p2={shot.p2}")
        far, near = 1.0 / shot.p98, 1.0 / shot.p2
    elif kind == "relative_inverse_depth":
        far, near = shot.p2, shot.p98
    else:
        raise DepthshotError(f"unknown depth kind {kind!r}")
    if not near > far:
        near = far + 1e-6  # a flat shot: everything sits at the far end
    return float(far), float(near)
