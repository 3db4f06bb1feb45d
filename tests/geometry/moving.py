"""A synthetic moving-camera clip with exact poses: a textured room with a box, rendered by ray casting.

World axes are OpenCV-like (y down); the camera of frame 0 sits at the origin looking down +z. Each pose is
world-from-camera. Colours are a function of the world position, so every frame sees the same surface texture.
"""

from __future__ import annotations

import math

import numpy as np

from core.geometry.camera import Intrinsics
from core.metrics.temporal import pose_matrix

WIDTH, HEIGHT = 240, 180
K = Intrinsics(210.0, 210.0, 119.5, 89.5, WIDTH, HEIGHT)

# axis-aligned planes (axis, offset): the room's walls, floor and ceiling
_PLANES = [(0, -2.0), (0, 2.0), (1, 1.0), (1, -1.5), (2, 4.0)]
_BOX = (np.array([-0.5, 0.2, 2.2]), np.array([0.3, 1.0, 2.8]))  # min, max corners standing on the floor


def rot_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def rot_x(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def exact_poses(n: int) -> np.ndarray:
    """(n, 4, 4) world-from-camera: a sideways dolly with a little pan, tilt and push-in."""
    poses = []
    for i in range(n):
        t = i / max(1, n - 1)
        m = np.eye(4)
        m[:3, :3] = rot_y(4.0 * t) @ rot_x(-1.5 * t)
        m[:3, 3] = [0.12 * t, -0.03 * t, 0.08 * t]
        poses.append(m)
    return np.stack(poses)


def _texture(p: np.ndarray) -> np.ndarray:
    """RGB uint8 of world points (..., 3): smooth blobs of colour, varied enough for photometric tracking."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    r = 128 + 60 * np.sin(7.0 * x + 3.0 * z) + 50 * np.sin(11.0 * y - 2.0 * x)
    g = 128 + 60 * np.sin(5.0 * y + 9.0 * z) + 40 * np.cos(13.0 * x)
    b = 128 + 70 * np.sin(4.0 * x + 6.0 * y + 8.0 * z)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def render(pose: np.ndarray, k: Intrinsics = K) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) uint8, depth (H, W) float32 along the optical axis) seen from ``pose``."""
    u, v = np.meshgrid(np.arange(k.width, dtype=np.float64), np.arange(k.height, dtype=np.float64))
    rays_cam = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], -1)  # z = 1: t is the depth
    r, c = pose[:3, :3], pose[:3, 3]
    d = rays_cam @ r.T
    best = np.full(u.shape, np.inf)
    for axis, off in _PLANES:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (off - c[axis]) / d[..., axis]
        best = np.where((t > 1e-6) & (t < best), t, best)
    lo, hi = _BOX
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - c) / d, (hi - c) / d
    t_near = np.minimum(t1, t2).max(-1)
    t_far = np.maximum(t1, t2).min(-1)
    hit = (t_near <= t_far) & (t_near > 1e-6)
    best = np.where(hit & (t_near < best), t_near, best)
    points = c + d * best[..., None]
    return _texture(points), best.astype(np.float32)


def surface_distance(points: np.ndarray) -> np.ndarray:
    """Distance (N,) of world points (N, 3) to the nearest surface of the scene (planes and box faces)."""
    dist = np.full(len(points), np.inf)
    for axis, off in _PLANES:
        dist = np.minimum(dist, np.abs(points[:, axis] - off))
    lo, hi = _BOX
    outside = np.maximum(np.maximum(lo - points, points - hi), 0.0)
    inside = np.minimum(points - lo, hi - points).min(-1)
    box = np.where((outside > 0).any(-1), np.linalg.norm(outside, axis=-1), np.abs(inside))
    return np.minimum(dist, box)


__all__ = ["K", "exact_poses", "pose_matrix", "render", "surface_distance"]
