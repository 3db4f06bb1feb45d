"""Trajectory accuracy: absolute trajectory error after a rigid alignment, relative pose error per time step.

Poses are world-from-camera 4x4 matrices (N, 4, 4) of the same frames, as in TUM's benchmark tools (whose
definitions these follow: ATE is the RMSE of camera centres after the least-squares rigid alignment of the
estimate onto the ground truth; RPE compares the motion over a fixed time step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import DepthshotError


def align_rigid(est: np.ndarray, gt: np.ndarray, with_scale: bool = False) -> tuple[np.ndarray, float]:
    """Least-squares similarity (rotation, translation, optional scale) taking the points ``est`` (N, 3) onto
    ``gt`` (N, 3) (Umeyama). Returns (4x4 transform without the scale, scale)."""
    if est.shape != gt.shape or est.ndim != 2 or est.shape[1] != 3 or len(est) < 3:
        raise DepthshotError(f"need two (N >= 3, 3) point sets, got {est.shape} and {gt.shape}")
    me, mg = est.mean(0), gt.mean(0)
    u, d, vt = np.linalg.svd((gt - mg).T @ (est - me) / len(est))
    s = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    r = u @ s @ vt
    scale = float(np.trace(np.diag(d) @ s) / ((est - me) ** 2).sum(1).mean()) if with_scale else 1.0
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = r, mg - scale * r @ me
    return m, scale


def interpolate_poses(stamps: np.ndarray, poses: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Poses (M, 4, 4) at ``times`` (M,) seconds from ``poses`` (N >= 2, 4, 4) at increasing ``stamps`` (N,):
    between the two bracketing poses, translation linear and rotation along the geodesic (slerp); a time outside
    ``stamps`` extrapolates the first or last interval the same way."""
    stamps, times = np.asarray(stamps, np.float64), np.asarray(times, np.float64)
    if len(stamps) < 2 or poses.shape != (len(stamps), 4, 4) or np.any(np.diff(stamps) <= 0):
        raise DepthshotError("need N >= 2 poses (N, 4, 4) at increasing timestamps")
    out = np.tile(np.eye(4), (len(times), 1, 1))
    for n, t in enumerate(times):
        j = int(np.clip(np.searchsorted(stamps, t), 1, len(stamps) - 1))
        u = (t - stamps[j - 1]) / (stamps[j] - stamps[j - 1])
        a, b = poses[j - 1], poses[j]
        axis_angle = cv2.Rodrigues(a[:3, :3].T @ b[:3, :3])[0]
        out[n, :3, :3] = a[:3, :3] @ cv2.Rodrigues(u * axis_angle)[0]
        out[n, :3, 3] = (1 - u) * a[:3, 3] + u * b[:3, 3]
    return out


def ate_rmse(est: np.ndarray, gt: np.ndarray, with_scale: bool = False) -> float:
    """Absolute trajectory error (RMSE of camera centres, units of ``gt``) of poses ``est`` (N, 4, 4) against
    ``gt`` (N, 4, 4) after :func:`align_rigid` (``with_scale`` for relative-scale estimates)."""
    pe, pg = est[:, :3, 3], gt[:, :3, 3]
    m, scale = align_rigid(pe, pg, with_scale)
    aligned = scale * pe @ m[:3, :3].T + m[:3, 3]
    return float(np.sqrt(((aligned - pg) ** 2).sum(1).mean()))


@dataclass(frozen=True)
class RelativeError:
    """RPE over a time step: translational RMSE (units of the poses per step) and rotational RMSE (degrees)."""

    step_s: float
    translation: float
    rotation_deg: float
    pairs: int


def rpe(est: np.ndarray, gt: np.ndarray, timestamps: np.ndarray, step_s: float = 1.0) -> RelativeError:
    """Relative pose error of ``est`` against ``gt`` (N, 4, 4) over pairs of frames ``step_s`` seconds apart
    (``timestamps`` (N,) seconds; each frame paired with the first frame at least ``step_s`` later)."""
    t = np.asarray(timestamps, np.float64)
    j = np.searchsorted(t, t + step_s - 1e-9)
    pairs = [(i, int(jj)) for i, jj in enumerate(j) if jj < len(t)]
    if not pairs:
        raise DepthshotError(f"no frame pairs {step_s} s apart")
    dt, dr = [], []
    for a, b in pairs:
        err = np.linalg.inv(np.linalg.inv(gt[a]) @ gt[b]) @ (np.linalg.inv(est[a]) @ est[b])
        dt.append(float(np.linalg.norm(err[:3, 3])))
        dr.append(math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(err[:3, :3]) - 1) / 2)))))
    return RelativeError(step_s, float(np.sqrt(np.mean(np.square(dt)))), float(np.sqrt(np.mean(np.square(dr)))),
                         len(pairs))
