"""Camera poses per frame: conventions, pose files (TUM, COLMAP ``images.txt``, JSON) and the pass manifest record.

Conventions (see also :mod:`core.geometry.camera`):

- A pose is **world-from-camera**: a 4x4 matrix ``T`` (float64) with ``p_world = T @ p_camera``, the camera in
  OpenCV axes (x right, y down, z forward). Its last column is the camera centre in the world.
- Poses restart at each cut: every shot is its own scene, whose world is the camera of the shot's first frame
  (estimated poses; imported ones keep their file's world).
- Units are those of the depth: metres for metric passes; for relative depth the scene units of the geometry
  commands (the nearest point of the shot at ``--near``, see :class:`core.geometry.camera.DepthRange`).

Files:

- **TUM** (``timestamp tx ty tz qx qy qz qw`` per line, ``#`` comments): world-from-camera, translation and unit
  quaternion (Hamilton, scalar last). What :func:`write_tum` writes, with the pass's frame timestamps.
- **COLMAP** ``images.txt``: per image ``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` then a line of 2-D points;
  COLMAP stores camera-from-world, which is inverted here. Images are taken in name order.
- **JSON**: a list of 4x4 matrices (row-major nested lists), world-from-camera in OpenCV camera axes; or an
  object ``{"axes": "opencv" | "blender", "poses": [...]}``, where ``"blender"`` means Blender camera objects'
  ``matrix_world`` (camera looking down its -z, y up), as a Blender or glTF camera solve exports them.

Blender: :func:`blender_matrix_world` turns a pose into a camera object's ``matrix_world`` in a z-up Blender world
(the y-up world of the glTF mesh files, rotated as Blender's glTF importer does).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import write_text
from core.depth.depth_pass import MANIFEST, DepthPass
from core.errors import DepthshotError
from core.geometry.camera import DepthRange
from core.metrics.temporal import pose_matrix

CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])
"""4x4 change of camera axes OpenCV <-> Blender/glTF/OpenGL (its own inverse)."""

Y_UP_TO_Z_UP = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
"""4x4 rotation of a y-up world (glTF) into Blender's z-up world: (x, y, z) -> (x, -z, y)."""


@dataclass
class Trajectory:
    """Poses of a pass's frames: ``poses`` (N, 4, 4) float64 world-from-camera (OpenCV axes); ``valid`` (N,) bool,
    False where tracking failed (the pose is then a prediction, not a measurement); ``fitness`` (N,) float in
    [0, 1], the fraction of the frame's valid pixels that found a correspondence in the previous frame (1 where
    imported); ``inliers`` (N,) int, their number; ``source``: ``"estimate"`` or the imported file's name."""

    poses: np.ndarray
    valid: np.ndarray
    fitness: np.ndarray = field(default_factory=lambda: np.zeros(0))
    inliers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    source: str = "estimate"

    def __post_init__(self) -> None:
        n = len(self.poses)
        if self.poses.shape != (n, 4, 4):
            raise DepthshotError(f"poses must be (N, 4, 4), got {self.poses.shape}")
        if len(self.fitness) == 0:
            self.fitness = np.ones(n)
        if len(self.inliers) == 0:
            self.inliers = np.zeros(n, np.int64)

    def __len__(self) -> int:
        return len(self.poses)


# -- rotations ------------------------------------------------------------------------------------------------------
def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix -> unit quaternion ``(qx, qy, qz, qw)`` with ``qw >= 0``."""
    m = np.asarray(r, np.float64)
    t = np.trace(m)
    if t > 0:
        s = 2.0 * math.sqrt(t + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i] = 0.25 * s
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
    q = np.array(q) / np.linalg.norm(q)
    return q if q[3] >= 0 else -q


def blender_matrix_world(pose: np.ndarray) -> np.ndarray:
    """World-from-camera (OpenCV axes, y-down world of the shot) -> a Blender camera object's ``matrix_world``
    (camera looking down its -z, y up) in a z-up world: ``Y_UP_TO_Z_UP @ CV_TO_GL @ pose @ CV_TO_GL``. The glTF
    meshes of :mod:`core.mesh`, imported with Blender's glTF importer, get the same world rotation."""
    return Y_UP_TO_Z_UP @ CV_TO_GL @ np.asarray(pose, np.float64) @ CV_TO_GL


# -- files ----------------------------------------------------------------------------------------------------------
def write_tum(path: str | os.PathLike[str], timestamps: np.ndarray, poses: np.ndarray, comment: str = "") -> Path:
    """Write ``poses`` (N, 4, 4) world-from-camera with ``timestamps`` (N,) seconds as a TUM trajectory, atomically."""
    lines = [f"# {c}" for c in comment.splitlines()] + ["# timestamp tx ty tz qx qy qz qw (world-from-camera)"]
    for t, p in zip(timestamps, poses):
        q = matrix_to_quat(p[:3, :3])
        lines.append(" ".join(f"{v:.9f}" for v in (t, *p[:3, 3], *q)))
    return write_text(Path(path), "\n".join(lines) + "\n")


def read_tum(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a TUM trajectory: (timestamps (N,) seconds, poses (N, 4, 4) world-from-camera)."""
    rows = []
    for n, line in enumerate(_read_lines(path), 1):
        parts = line.split()
        if len(parts) != 8:
            raise DepthshotError(f"{path}:{n}: expected 'timestamp tx ty tz qx qy qz qw', got {len(parts)} values")
        try:
            rows.append([float(v) for v in parts])
        except ValueError:
            raise DepthshotError(f"{path}:{n}: not a number in {line!r}") from None
    if not rows:
        raise DepthshotError(f"{path}: no poses")
    a = np.array(rows)
    return a[:, 0], np.stack([pose_matrix(r[1:4], r[4:8]) for r in a])


def read_colmap_images(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Read COLMAP's ``images.txt``: (image names in name order, poses (N, 4, 4) world-from-camera)."""
    lines = _read_lines(path, keep_empty=True)
    while lines and not lines[-1]:
        lines.pop()
    entries = []
    for n in range(0, len(lines), 2):  # an image line, then its line of 2-D points (may be empty)
        parts = lines[n].split()
        if len(parts) < 10:
            raise DepthshotError(f"{path}: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME', got {lines[n]!r}")
        try:
            qw, qx, qy, qz, tx, ty, tz = (float(v) for v in parts[1:8])
        except ValueError:
            raise DepthshotError(f"{path}: not a number in {lines[n]!r}") from None
        cam_from_world = pose_matrix(np.array([tx, ty, tz]), np.array([qx, qy, qz, qw]))
        entries.append((" ".join(parts[9:]), np.linalg.inv(cam_from_world)))
    if not entries:
        raise DepthshotError(f"{path}: no images")
    entries.sort(key=lambda e: e[0])
    return [e[0] for e in entries], np.stack([e[1] for e in entries])


def read_json_poses(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a JSON pose list (see the module docstring): poses (N, 4, 4) world-from-camera, OpenCV axes."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DepthshotError(f"{path}: unreadable JSON ({exc})") from None
    axes = "opencv"
    if isinstance(data, dict):
        axes, data = data.get("axes", "opencv"), data.get("poses")
    if axes not in ("opencv", "blender"):
        raise DepthshotError(f"{path}: 'axes' must be 'opencv' or 'blender', got {axes!r}")
    try:
        poses = np.array(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise DepthshotError(f"{path}: expected a list of 4x4 matrices") from None
    if poses.ndim != 3 or poses.shape[1:] != (4, 4) or not len(poses) or not np.isfinite(poses).all():
        raise DepthshotError(f"{path}: expected a list of 4x4 matrices, got shape {poses.shape}")
    return poses @ CV_TO_GL if axes == "blender" else poses


def write_json_poses(path: str | os.PathLike[str], poses: np.ndarray) -> Path:
    """Write ``poses`` (N, 4, 4) world-from-camera (OpenCV axes) as a JSON list of 4x4 matrices, atomically."""
    return write_text(Path(path), json.dumps({"axes": "opencv", "poses": np.asarray(poses).tolist()}))


def _read_lines(path: str | os.PathLike[str], keep_empty: bool = False) -> list[str]:
    """The file's lines, stripped, without ``#`` comments (and without empty lines unless ``keep_empty``)."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DepthshotError(f"{path}: cannot read the pose file ({exc})") from None
    lines = [ln.strip() for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    return lines if keep_empty else [ln for ln in lines if ln]


_COLMAP_LINE = re.compile(r"^\d+\s+(\S+\s+){8}\S+")


def load_pose_file(path: str | os.PathLike[str], timestamps: list[float]) -> Trajectory:
    """Poses for a pass's frames (``timestamps``, seconds) from a TUM, COLMAP ``images.txt`` or JSON file.

    A file with exactly one pose per frame is taken in order; a TUM file with other counts is matched by time
    (its timestamps minus its first, nearest within half the median frame step, frames without one flagged
    invalid). COLMAP and JSON files must have one pose per frame.
    """
    path = Path(path)
    if not path.is_file():
        raise DepthshotError(f"{path}: no such pose file")
    n = len(timestamps)
    if path.suffix.lower() == ".json":
        poses = read_json_poses(path)
    else:
        lines = _read_lines(path)
        if lines and len(lines[0].split()) >= 10 and _COLMAP_LINE.match(lines[0]):
            poses = read_colmap_images(path)[1]
        else:
            stamps, poses = read_tum(path)
            if len(poses) != n:
                return _match_by_time(path, stamps, poses, np.asarray(timestamps))
    if len(poses) != n:
        raise DepthshotError(f"{path}: {len(poses)} poses for {n} frames")
    return Trajectory(poses, np.ones(n, bool), source=path.name)


def _match_by_time(path: Path, stamps: np.ndarray, poses: np.ndarray, times: np.ndarray) -> Trajectory:
    rel = stamps - stamps[0]
    tol = 0.5 * (float(np.median(np.diff(times))) if len(times) > 1 else 1.0)
    nearest = np.clip(np.searchsorted(rel, times), 0, len(rel) - 1)
    prev = np.clip(nearest - 1, 0, len(rel) - 1)
    pick = np.where(np.abs(rel[prev] - times) < np.abs(rel[nearest] - times), prev, nearest)
    ok = np.abs(rel[pick] - times) <= tol
    if not ok.any():
        raise DepthshotError(f"{path}: no pose within {tol:.3f} s of any frame")
    return Trajectory(poses[pick], ok, source=path.name)


# -- the manifest record --------------------------------------------------------------------------------------------
POSES_CONVENTION = "world_from_camera, OpenCV camera axes (x right, y down, z forward), 4x4 row-major"


def poses_manifest(traj: Trajectory, units: str, file: str | None = None, shots: list[tuple[int, int]] = ()) -> dict[str, Any]:
    """The ``poses`` record of a pass manifest: per frame the world-from-camera matrix (OpenCV axes, 16 numbers
    row-major), the Blender camera ``matrix_world`` (z-up world, see :func:`blender_matrix_world`), whether the
    pose was tracked (``valid``), its ``fitness`` and ``inliers``; per shot the frame range (each shot its own
    world); the units and where the TUM file was written."""
    return {
        "convention": POSES_CONVENTION,
        "blender": "blender_matrix_world = Y_UP_TO_Z_UP @ CV_TO_GL @ world_from_camera @ CV_TO_GL (camera object)",
        "units": units,
        "source": traj.source,
        "file": file,
        "shots": [{"start": a, "end": b} for a, b in shots],
        "frames": [
            {
                "world_from_camera": [round(float(v), 9) for v in p.reshape(-1)],
                "blender_matrix_world": [round(float(v), 9) for v in blender_matrix_world(p).reshape(-1)],
                "valid": bool(ok),
                "fitness": round(float(f), 4),
                "inliers": int(k),
            }
            for p, ok, f, k in zip(traj.poses, traj.valid, traj.fitness, traj.inliers)
        ],
    }


def trajectory_from_manifest(record: dict[str, Any]) -> Trajectory:
    """Inverse of :func:`poses_manifest` (the Trajectory part)."""
    try:
        frames = record["frames"]
        poses = np.array([f["world_from_camera"] for f in frames], np.float64).reshape(-1, 4, 4)
        return Trajectory(
            poses,
            np.array([bool(f["valid"]) for f in frames]),
            np.array([float(f.get("fitness", 1.0)) for f in frames]),
            np.array([int(f.get("inliers", 0)) for f in frames], np.int64),
            source=str(record.get("source", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DepthshotError(f"malformed poses record in the depth pass manifest ({exc})") from None


def pose_units(dp: DepthPass, depth_range: DepthRange) -> str:
    """What a pose's translation is measured in, for the manifest."""
    if dp.info.kind == "metric_depth":
        return "metres"
    return (f"scene units of relative depth: per shot the nearest point at near={depth_range.near:g}, the farthest "
            f"at near x {depth_range.ratio:g} (the geometry commands' --near / --near-far-ratio)")


def record_in_pass(dp: DepthPass, traj: Trajectory, units: str, file: str | None = None) -> None:
    """Store ``traj`` as the ``poses`` record of the pass's manifest (rewritten atomically)."""
    if len(traj) != len(dp):
        raise DepthshotError(f"{len(traj)} poses for a pass of {len(dp)} frames")
    dp.info.poses = poses_manifest(traj, units, file, [(s.start, s.end) for s in dp.info.shots])
    write_text(dp.root / MANIFEST, json.dumps(dp.info.to_json(), indent=1))


def pass_trajectory(dp: DepthPass) -> Trajectory | None:
    """The poses recorded in the pass's manifest, or None."""
    return trajectory_from_manifest(dp.info.poses) if dp.info.poses else None
