"""Depth discontinuities: the one rule that removes flying pixels from point clouds and cuts mesh triangles.

Between two neighbouring samples a and b the *slope* is

    s = |1/z_a - 1/z_b| / max(1/z_a, 1/z_b) / dθ   (= |z_a - z_b| / max(z_a, z_b) / dθ)

the relative jump in inverse depth per radian of viewing angle dθ between the two pixels (dθ = 1/fx for
horizontal neighbours). It does not change when all depths are scaled, so it works for relative depth whose scale
is unknown, and for a smooth surface it does not depend on the resolution: on a plane, s is about tan of the angle
between the view ray and the surface normal. A step edge gives a huge s (the jump does not shrink with the pixel
size), a surface seen face-on gives 0. Links with ``s > tan(max_angle)`` are discontinuities: triangles using one
are cut.

A *flying pixel* is one interpolated across a depth step: along its row or its column its depth lies strictly
between its two neighbours' and both links are discontinuities (a blurred network edge, or a sensor's mixed
pixel). Those points are dropped; the pixels on either side of the step, the foreground outline and the background
it occludes, are not (their depth is a real surface). A pixel's edge confidence is ``cos(atan(s_i))``, with ``s_i``
its *interpolation slope*: over the row and the column where its depth lies between its neighbours', the gentler of
its two links, taking the steeper axis (0, confidence 1, where it is not between its neighbours). On a plane this
is about the cosine of the angle between view ray and surface; at a step it is 1 on both sides and near 0 on the
pixels in between. ``max_angle_deg = 90`` turns the rule off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.errors import DepthshotError

DEFAULT_MAX_ANGLE_DEG = 85.0
"""Links steeper than this angle between view ray and surface are discontinuities."""


@dataclass(frozen=True)
class EdgeRule:
    """Discontinuity threshold: links whose surface is seen more obliquely than ``max_angle_deg`` are cut;
    90 keeps everything (no edge filter)."""

    max_angle_deg: float = DEFAULT_MAX_ANGLE_DEG

    def __post_init__(self) -> None:
        if not 0.0 < self.max_angle_deg <= 90.0:
            raise DepthshotError(f"edge angle must be above 0 and at most 90 degrees, got {self.max_angle_deg}")

    @property
    def enabled(self) -> bool:
        """False for 90 degrees: nothing is cut."""
        return self.max_angle_deg < 90.0

    @property
    def max_slope(self) -> float:
        """``tan(max_angle)``: the largest slope kept (infinite when the rule is off)."""
        return math.tan(math.radians(self.max_angle_deg)) if self.enabled else math.inf

    @property
    def min_confidence(self) -> float:
        """``cos(max_angle)``: the smallest edge confidence kept (0 when the rule is off)."""
        return math.cos(math.radians(self.max_angle_deg)) if self.enabled else 0.0


@dataclass(frozen=True)
class Slopes:
    """Slopes of the links of a depth grid (H, W): ``horizontal`` (H, W-1) between (v, u) and (v, u+1),
    ``vertical`` (H-1, W) between (v, u) and (v+1, u), ``diagonal`` (H-1, W-1) between (v, u+1) and (v+1, u).
    NaN where a sample is invalid (non-finite or <= 0 depth)."""

    horizontal: np.ndarray
    vertical: np.ndarray
    diagonal: np.ndarray


def _relative_jump(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| / max(a, b) for positive depths, NaN where either is invalid; float32."""
    with np.errstate(invalid="ignore", divide="ignore"):
        jump = np.abs(a - b) / np.maximum(a, b)
    jump[~((a > 0) & (b > 0))] = np.nan
    return jump


def link_slopes(depth: np.ndarray, dx_rad: float, dy_rad: float) -> Slopes:
    """Slopes of all links of ``depth`` (H, W) (any positive unit; NaN or <= 0 = invalid).

    ``dx_rad``/``dy_rad``: viewing angle between horizontal/vertical neighbours in radians (``step / fx``,
    ``step / fy`` for samples ``step`` pixels apart).
    """
    if depth.ndim != 2:
        raise DepthshotError(f"depth must be a 2-D array, got shape {depth.shape}")
    z = depth.astype(np.float32, copy=False)
    return Slopes(
        horizontal=_relative_jump(z[:, :-1], z[:, 1:]) / np.float32(dx_rad),
        vertical=_relative_jump(z[:-1, :], z[1:, :]) / np.float32(dy_rad),
        diagonal=_relative_jump(z[:-1, 1:], z[1:, :-1]) / np.float32(math.hypot(dx_rad, dy_rad)),
    )


def _interpolation_slope(z: np.ndarray, links: np.ndarray, axis: int) -> np.ndarray:
    """For the interior samples along ``axis`` of ``z``: the gentler of the two links (``links``, the slopes
    between consecutive samples along ``axis``) where the sample lies strictly between its neighbours, else 0."""
    if axis == 1:
        prev, mid, nxt = z[:, :-2], z[:, 1:-1], z[:, 2:]
        a, b = links[:, :-1], links[:, 1:]
    else:
        prev, mid, nxt = z[:-2, :], z[1:-1, :], z[2:, :]
        a, b = links[:-1, :], links[1:, :]
    with np.errstate(invalid="ignore"):
        between = ((prev < mid) & (mid < nxt)) | ((prev > mid) & (mid > nxt))  # False where any is NaN
    return np.where(between, np.fmin(a, b), np.float32(0.0)).astype(np.float32)


def edge_confidence(depth: np.ndarray, dx_rad: float, dy_rad: float) -> np.ndarray:
    """Per-pixel edge confidence (H, W) float32 in [0, 1]: ``cos(atan(s_i))`` of the pixel's interpolation slope
    (see the module docstring): 1 on a face-on surface and on both sides of a depth step, near 0 on pixels
    interpolated across one; 0 for invalid pixels (non-finite or <= 0 depth)."""
    z = depth.astype(np.float32, copy=False)
    s = link_slopes(z, dx_rad, dy_rad)
    z = np.where(z > 0, z, np.float32(np.nan))
    slope = np.zeros(depth.shape, dtype=np.float32)
    if depth.shape[1] >= 3:
        slope[:, 1:-1] = _interpolation_slope(z, s.horizontal, axis=1)
    if depth.shape[0] >= 3:
        np.fmax(slope[1:-1, :], _interpolation_slope(z, s.vertical, axis=0), out=slope[1:-1, :])
    confidence = 1.0 / np.sqrt(1.0 + slope * slope)
    confidence[~(depth > 0)] = 0.0  # also catches NaN
    return confidence


def grid_triangles(depth: np.ndarray, dx_rad: float, dy_rad: float, rule: EdgeRule) -> np.ndarray:
    """Triangles of the grid over ``depth`` (H, W) that span no discontinuity, as vertex indices (N, 3) int64
    into the row-major grid (index ``v * W + u``), counter-clockwise as seen from the camera in image axes.

    Each grid cell is split along its (v, u+1)-(v+1, u) diagonal into an upper-left and a lower-right triangle;
    a triangle is kept only if its three vertices are valid and its three links have ``s <= tan(max_angle)``.
    """
    h, w = depth.shape
    s = link_slopes(depth, dx_rad, dy_rad)
    limit = np.float32(rule.max_slope)
    with np.errstate(invalid="ignore"):
        ok_h, ok_v, ok_d = s.horizontal <= limit, s.vertical <= limit, s.diagonal <= limit  # NaN -> False
    upper = ok_h[:-1, :] & ok_v[:, :-1] & ok_d  # (v,u) (v,u+1) (v+1,u)
    lower = ok_h[1:, :] & ok_v[:, 1:] & ok_d  # (v,u+1) (v+1,u+1) (v+1,u)
    top_left = np.arange(h * w, dtype=np.int64).reshape(h, w)[:-1, :-1]
    a, b = top_left[upper], top_left[lower]
    tris = np.empty((len(a) + len(b), 3), dtype=np.int64)
    tris[: len(a), 0], tris[: len(a), 1], tris[: len(a), 2] = a, a + w, a + 1
    tris[len(a) :, 0], tris[len(a) :, 1], tris[len(a) :, 2] = b + 1, b + w, b + w + 1
    return tris
