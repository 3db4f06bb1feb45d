"""Depth discontinuities: the one rule that removes flying pixels from point clouds and cuts mesh triangles.

Between two neighbouring samples a and b the *slope* is

    s = |1/z_a - 1/z_b| / max(1/z_a, 1/z_b) / dθ   (= |z_a - z_b| / max(z_a, z_b) / dθ)

the relative jump in inverse depth per radian of viewing angle dθ between the two pixels (dθ = 1/fx for
horizontal neighbours). It does not change when all depths are scaled, so it works for relative depth whose scale
is unknown, and for a smooth surface it does not depend on the resolution: on a plane, s is about tan of the angle
between the view ray and the surface normal. A step edge gives a huge s (the jump does not shrink with the pixel
size), a surface seen face-on gives 0. Links with ``s > tan(max_angle)`` are discontinuities: triangles using one
are cut, pixels touching one are flying pixels. Edge confidence is ``cos(atan(s))`` of the steepest link at a pixel.
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
    """Discontinuity threshold: links whose surface is seen more obliquely than ``max_angle_deg`` are cut."""

    max_angle_deg: float = DEFAULT_MAX_ANGLE_DEG

    def __post_init__(self) -> None:
        if not 0.0 < self.max_angle_deg < 90.0:
            raise DepthshotError(f"edge angle must be between 0 and 90 degrees, got {self.max_angle_deg}")

    @property
    def max_slope(self) -> float:
        """``tan(max_angle)``: the largest slope kept."""
        return math.tan(math.radians(self.max_angle_deg))

    @property
    def min_confidence(self) -> float:
        """``cos(max_angle)``: the smallest edge confidence kept."""
        return math.cos(math.radians(self.max_angle_deg))


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


def edge_confidence(depth: np.ndarray, dx_rad: float, dy_rad: float) -> np.ndarray:
    """Per-pixel edge confidence (H, W) float32 in [0, 1]: ``cos(atan(s))`` of the steepest horizontal or
    vertical link touching the pixel (1 on a face-on surface, near 0 at a depth step); 0 for invalid pixels.
    Links to an invalid neighbour are ignored."""
    s = link_slopes(depth, dx_rad, dy_rad)
    steepest = np.zeros(depth.shape, dtype=np.float32)
    for view, link in (
        (steepest[:, :-1], s.horizontal),
        (steepest[:, 1:], s.horizontal),
        (steepest[:-1, :], s.vertical),
        (steepest[1:, :], s.vertical),
    ):
        np.fmax(view, link, out=view)
    confidence = 1.0 / np.sqrt(1.0 + steepest * steepest)
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
