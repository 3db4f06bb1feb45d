"""Temporal alignment error (TAE) of a depth video, as defined in the Video Depth Anything paper.

The depth of frame k is back-projected with the intrinsics, moved into frame k+1's camera with the relative pose,
and projected; where it lands inside frame k+1 (nearest pixel, positive depth) its depth along the optical axis is
compared with frame k+1's own depth by AbsRel. The same is done from k+1 back to k, and

    TAE = 1 / (2 (N - 1)) * sum_k [AbsRel(k -> k+1) + AbsRel(k+1 -> k)].

Poses are world-from-camera 4x4 matrices (metres); depth is in metres along the optical axis (for a relative
prediction, align it first, see ``core.metrics.depth``). Lens distortion is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def pose_matrix(t: np.ndarray, q: np.ndarray) -> np.ndarray:
    """World-from-camera 4x4 float64 matrix from translation [3] (metres) and unit quaternion [4] (x, y, z, w)."""
    x, y, z, w = np.asarray(q, np.float64) / np.linalg.norm(q)
    r = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = r, t
    return m


def reprojection_abs_rel(
    depth_a: np.ndarray,
    depth_b: np.ndarray,
    k: np.ndarray,
    b_from_a: np.ndarray,
    mask_a: np.ndarray | None = None,
) -> float:
    """AbsRel between frame a's depth moved into camera b and b's depth at the landing pixels.

    depth_a, depth_b: [H, W] metres (0 = unknown); k: 3x3 intrinsics in pixels; b_from_a: 4x4 rigid transform;
    mask_a: bool [H, W] pixels of a to use (default: depth_a > 0). Returns NaN when no pixel lands on valid depth.
    """
    h, w = depth_a.shape
    mask = depth_a > 0 if mask_a is None else mask_a & (depth_a > 0)
    v, u = np.nonzero(mask)
    z = depth_a[v, u].astype(np.float64)
    pts = np.stack([(u - k[0, 2]) / k[0, 0] * z, (v - k[1, 2]) / k[1, 1] * z, z])
    moved = b_from_a[:3, :3] @ pts + b_from_a[:3, 3:4]
    zb = moved[2]
    front = zb > 1e-9
    ub = np.rint(k[0, 0] * moved[0, front] / zb[front] + k[0, 2]).astype(np.int64)
    vb = np.rint(k[1, 1] * moved[1, front] / zb[front] + k[1, 2]).astype(np.int64)
    zb = zb[front]
    inside = (ub >= 0) & (ub < w) & (vb >= 0) & (vb < h)
    target = depth_b[vb[inside], ub[inside]].astype(np.float64)
    reproj = zb[inside]
    ok = target > 0
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(reproj[ok] - target[ok]) / target[ok]))


def tae(
    depths: Iterable[np.ndarray],
    poses: Iterable[np.ndarray],
    k: np.ndarray,
    masks: Iterable[np.ndarray | None] | None = None,
) -> float:
    """Temporal alignment error of a depth video (streams: keeps two frames).

    depths: per frame [H, W] metres; poses: per frame 4x4 world-from-camera; k: 3x3 intrinsics (pixels);
    masks: optional per-frame bool [H, W] of pixels to evaluate (e.g. where ground truth exists).
    """
    total, pairs = 0.0, 0
    prev = None
    mask_iter = iter(masks) if masks is not None else None
    for depth, pose in zip(depths, poses, strict=True):
        mask = next(mask_iter) if mask_iter is not None else None
        if prev is not None:
            d0, p0, m0 = prev
            b_from_a = np.linalg.inv(pose) @ p0
            fwd = reprojection_abs_rel(d0, depth, k, b_from_a, m0)
            bwd = reprojection_abs_rel(depth, d0, k, np.linalg.inv(b_from_a), mask)
            total += fwd + bwd
            pairs += 1
        prev = (depth, pose, mask)
    if pairs == 0:
        raise ValueError("TAE needs at least two frames")
    return total / (2 * pairs)
