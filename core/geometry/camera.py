"""Pinhole camera model: intrinsics, raw depth-pass values to depth, unprojection, axis conventions.

Conventions (one place for the whole project):

- Camera space is OpenCV's: x right, y down, z forward (into the scene), units of depth.
- Pixel ``(u, v)`` is column ``u``, row ``v``; integer coordinates are pixel *centres*, so the centre of a
  ``W x H`` image is ``((W - 1) / 2, (H - 1) / 2)``.
- Depth ``z`` is the distance along the optical axis (not along the ray), as in the depth pass's
  ``metric_depth`` kind.
- Blender and glTF cameras look down -z with y up: :func:`opencv_to_blender` converts points.
- Lens distortion, when known, uses OpenCV's model and coefficient order ``(k1, k2, p1, p2[, k3[, k4, k5, k6]])``
  in normalised image coordinates; depth maps are registered to the *distorted* image (as a sensor delivers them),
  and :func:`unproject` undistorts each pixel's ray.
- A camera pose is world-from-camera: a 4x4 matrix ``T`` with ``p_world = T @ p_camera`` (OpenCV camera axes),
  see :mod:`core.geometry.poses`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from core.errors import DepthshotError

DEFAULT_HFOV_DEG = 60.0
"""Horizontal field of view assumed when a clip has no known intrinsics (a typical phone/camcorder lens)."""

DEFAULT_NEAR = 1.0
"""Depth given to the nearest point of relative depth (scene units)."""

DEFAULT_NEAR_FAR_RATIO = 10.0
"""For relative depth, the farthest point of a shot is this many times farther than the nearest."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of ``width x height`` pixels, with optional OpenCV distortion
    coefficients ``(k1, k2, p1, p2[, k3[, k4, k5, k6]])`` (empty: none)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.distortion) not in (0, 4, 5, 8):
            raise DepthshotError(f"distortion needs 4, 5 or 8 OpenCV coefficients, got {len(self.distortion)}")
        if self.distortion and not any(self.distortion):
            object.__setattr__(self, "distortion", ())
        if not (self.fx > 0 and self.fy > 0):
            raise DepthshotError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if self.width < 1 or self.height < 1:
            raise DepthshotError(f"image size must be positive, got {self.width}x{self.height}")

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> Intrinsics:
        """Square-pixel intrinsics with the given horizontal field of view and the principal point at the centre."""
        if not 0.0 < hfov_deg < 180.0:
            raise DepthshotError(f"field of view must be between 0 and 180 degrees, got {hfov_deg}")
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view in degrees."""
        return math.degrees(2.0 * math.atan((self.width / 2.0) / self.fx))

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K, float64."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def resized(self, width: int, height: int) -> Intrinsics:
        """The same lens for the image resampled to ``width x height`` (pixel-centre convention kept)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, width, height,
            self.distortion,  # the coefficients act on normalised coordinates: unchanged by resampling
        )

    def undistorted(self) -> Intrinsics:
        """The same pinhole without distortion (what :func:`undistortion_maps` resamples an image to)."""
        return Intrinsics(self.fx, self.fy, self.cx, self.cy, self.width, self.height)


def resolve_intrinsics(
    width: int,
    height: int,
    *,
    fov_deg: float | None = None,
    fx: float | None = None,
    fy: float | None = None,
    cx: float | None = None,
    cy: float | None = None,
    known: dict[str, Any] | None = None,
    known_size: tuple[int, int] | None = None,
) -> Intrinsics:
    """Pick the intrinsics for a ``width x height`` depth map.

    Priority: explicit ``fx`` (with optional ``fy``, ``cx``, ``cy``), then ``fov_deg``, then ``known`` (a depth
    pass's ``intrinsics`` dict with fx, fy, cx, cy for an image of ``known_size`` (w, h), default the same size),
    then :data:`DEFAULT_HFOV_DEG`. A missing ``fy`` equals ``fx``; a missing ``cx``/``cy`` is the image centre.
    ``known`` may carry ``distortion`` (OpenCV coefficients); explicit values and a field of view mean none.
    """
    if fx is None and (fy is not None or cx is not None or cy is not None):
        raise DepthshotError("give --fx together with --fy/--cx/--cy")
    if fx is not None and fov_deg is not None:
        raise DepthshotError("give either a field of view or explicit fx/fy/cx/cy, not both")
    if fx is not None:
        return Intrinsics(
            fx,
            fx if fy is None else fy,
            (width - 1) / 2.0 if cx is None else cx,
            (height - 1) / 2.0 if cy is None else cy,
            width,
            height,
        )
    if fov_deg is not None:
        return Intrinsics.from_fov(width, height, fov_deg)
    if known:
        try:
            kw, kh = known_size or (width, height)
            dist = tuple(float(v) for v in known.get("distortion") or ())
            k = Intrinsics(float(known["fx"]), float(known["fy"]), float(known["cx"]), float(known["cy"]), kw, kh, dist)
        except (KeyError, TypeError, ValueError) as exc:
            raise DepthshotError(f"depth pass intrinsics need numeric fx, fy, cx, cy, got {known!r}") from exc
        return k if (kw, kh) == (width, height) else k.resized(width, height)
    return Intrinsics.from_fov(width, height, DEFAULT_HFOV_DEG)


@dataclass(frozen=True)
class DepthRange:
    """How relative inverse depth becomes depth: the nearest point at ``near``, the farthest at ``near * ratio``.

    Metric depth is used as is and ignores this.
    """

    near: float = DEFAULT_NEAR
    ratio: float = DEFAULT_NEAR_FAR_RATIO

    def __post_init__(self) -> None:
        if not self.near > 0:
            raise DepthshotError(f"near depth must be positive, got {self.near}")
        if not self.ratio > 1:
            raise DepthshotError(f"near/far ratio must be greater than 1, got {self.ratio}")


def inverse_depth_to_depth(
    inv: np.ndarray, lo: float, hi: float, depth_range: DepthRange = DepthRange()
) -> np.ndarray:
    """Relative (affine-invariant) inverse depth to depth with a bounded near/far ratio.

    ``inv``: (H, W) raw relative inverse depth (larger = nearer) of one frame; ``lo``/``hi``: the raw minimum and
    maximum of its shot, so the whole shot shares one mapping and stays temporally consistent. The raw value is
    mapped affinely to inverse depth: ``hi -> 1 / near`` and ``lo -> 1 / (near * ratio)`` (an affine map, so it is
    one member of the family the network's output is defined up to). Returns (H, W) float32 depth in scene units,
    clamped to ``[near, near * ratio]``; non-finite input stays NaN. A flat shot (``hi == lo``) is put at ``near``.
    """
    inv_near = 1.0 / depth_range.near
    inv_far = inv_near / depth_range.ratio
    if not hi > lo:
        return np.where(np.isfinite(inv), np.float32(depth_range.near), np.float32(np.nan)).astype(np.float32)
    t = np.clip((inv.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return (1.0 / (inv_far + t * (inv_near - inv_far))).astype(np.float32)


def metric_to_inverse_depth(depth: np.ndarray) -> np.ndarray:
    """Metric depth (any shape, metres) -> inverse depth (same shape, 1/m, float64); no measurement (<= 0 or NaN)
    becomes 0, i.e. infinitely far. The one metric -> inverse conversion (disparity, previews, metrics)."""
    depth = np.asarray(depth, dtype=np.float64)
    valid = depth > 0
    return np.divide(1.0, depth, out=np.zeros_like(depth), where=valid)


def raw_to_depth(
    raw: np.ndarray, kind: str, lo: float, hi: float, depth_range: DepthRange = DepthRange()
) -> np.ndarray:
    """A depth pass frame's raw values (H, W) to depth (H, W) float32 along the optical axis.

    ``kind`` is the pass's kind: ``metric_depth`` is returned as is (metres; values <= 0 become NaN, i.e. no
    measurement), ``relative_inverse_depth`` goes through :func:`inverse_depth_to_depth` with the shot's lo/hi.
    """
    if kind == "metric_depth":
        depth = raw.astype(np.float32, copy=True)
        depth[~(depth > 0)] = np.nan
        return depth
    if kind == "relative_inverse_depth":
        return inverse_depth_to_depth(raw, lo, hi, depth_range)
    raise DepthshotError(f"unknown depth kind {kind!r} (expected metric_depth or relative_inverse_depth)")


def pixel_rays(k: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ray slopes ``(x / z, y / z)`` of the pinhole (distortion ignored): arrays of shape (W,) and (H,),
    float32."""
    xs = (np.arange(k.width, dtype=np.float32) - np.float32(k.cx)) / np.float32(k.fx)
    ys = (np.arange(k.height, dtype=np.float32) - np.float32(k.cy)) / np.float32(k.fy)
    return xs, ys


@functools.lru_cache(maxsize=4)
def undistorted_rays(k: Intrinsics) -> np.ndarray:
    """Per-pixel undistorted ray slopes ``(x / z, y / z)`` (H, W, 2) float32 of a lens with distortion (the
    inverse of OpenCV's distortion model, solved iteratively to 1e-9). Read-only; cached per lens."""
    u, v = np.meshgrid(np.arange(k.width, dtype=np.float64), np.arange(k.height, dtype=np.float64))
    pixels = np.stack([u, v], -1).reshape(-1, 1, 2)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-9)
    rays = cv2.undistortPointsIter(pixels, k.matrix, np.asarray(k.distortion), None, None, criteria)
    out = rays.reshape(k.height, k.width, 2).astype(np.float32)
    out.flags.writeable = False
    return out


def undistortion_maps(k: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps (H, W) float32 that resample an image of lens ``k`` to the pinhole ``k.undistorted()``."""
    return cv2.initUndistortRectifyMap(
        k.matrix, np.asarray(k.distortion), None, k.matrix, (k.width, k.height), cv2.CV_32FC1
    )


def unproject(depth: np.ndarray, k: Intrinsics) -> np.ndarray:
    """Depth (H, W) along the optical axis -> camera-space points (H, W, 3) float32, OpenCV axes.

    Point of pixel (u, v) is ``z * ((u - cx) / fx, (v - cy) / fy, 1)`` for a pinhole, ``z * (x_u, y_u, 1)`` with
    the undistorted ray (:func:`undistorted_rays`) when ``k`` has distortion; NaN depth gives NaN points.
    """
    if depth.shape != (k.height, k.width):
        raise DepthshotError(f"depth is {depth.shape[1]}x{depth.shape[0]} but intrinsics are {k.width}x{k.height}")
    z = depth.astype(np.float32, copy=False)
    points = np.empty((k.height, k.width, 3), dtype=np.float32)
    if k.distortion:
        rays = undistorted_rays(k)
        np.multiply(z, rays[..., 0], out=points[..., 0])
        np.multiply(z, rays[..., 1], out=points[..., 1])
    else:
        xs, ys = pixel_rays(k)
        np.multiply(z, xs[None, :], out=points[..., 0])
        np.multiply(z, ys[:, None], out=points[..., 1])
    points[..., 2] = z
    return points


OPENCV_TO_BLENDER = np.diag([1.0, -1.0, -1.0])
"""3x3 rotation from OpenCV camera axes (x right, y down, z forward) to Blender/glTF/OpenGL camera axes
(x right, y up, -z forward). It is its own inverse."""


def opencv_to_blender(points: np.ndarray) -> np.ndarray:
    """Points (..., 3) in OpenCV camera axes -> Blender/glTF camera axes (flip y and z); same dtype."""
    out = np.array(points, copy=True)
    out[..., 1:] *= -1
    return out


@dataclass(frozen=True)
class BlenderLens:
    """A Blender camera matching :class:`Intrinsics`: ``sensor_fit='HORIZONTAL'``, lens and sensor in mm,
    shifts as fractions of the larger image side (Blender's convention), and ``pixel_aspect`` = fy / fx, the
    render's ``pixel_aspect_x / pixel_aspect_y`` (1 for square pixels)."""

    lens_mm: float
    sensor_width_mm: float
    shift_x: float
    shift_y: float
    pixel_aspect: float


def blender_lens(k: Intrinsics, sensor_width_mm: float = 36.0) -> BlenderLens:
    """Blender camera settings reproducing ``k`` (principal point offset becomes lens shift)."""
    size = max(k.width, k.height)
    return BlenderLens(
        lens_mm=k.fx * sensor_width_mm / k.width,
        sensor_width_mm=sensor_width_mm,
        shift_x=((k.width - 1) / 2.0 - k.cx) / size,
        shift_y=(k.cy - (k.height - 1) / 2.0) / size,
        pixel_aspect=k.fy / k.fx,
    )
