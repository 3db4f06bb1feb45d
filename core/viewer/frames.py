"""The point-cloud sequence a viewer plays: the PLY files of a folder, loaded one at a time."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import open3d as o3d

from core.errors import DepthshotError
from core.geometry.pointcloud import read_ply


def list_frames(folder: str | os.PathLike[str]) -> list[Path]:
    """The ``*.ply`` files of ``folder`` in name order (hidden/partial files skipped); error if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DepthshotError(f"{folder}: no such folder")
    files = sorted(p for p in folder.glob("*.ply") if not p.name.startswith("."))
    if not files:
        raise DepthshotError(f"{folder}: no .ply point clouds (write some with python -m core.pointcloud)")
    return files


def load_cloud(path: Path) -> o3d.geometry.PointCloud:
    """A PLY as a legacy Open3D point cloud with colours in [0, 1] (what both renderers take)."""
    points = read_ply(path)
    cloud = o3d.geometry.PointCloud()
    cloud.points = o3d.utility.Vector3dVector(points.positions.astype(np.float64))
    cloud.colors = o3d.utility.Vector3dVector(points.colors.astype(np.float64) / 255.0)
    return cloud


def scene_centre(cloud: o3d.geometry.PointCloud) -> np.ndarray:
    """The point the camera looks at and orbits around (3,): on the recording camera's optical axis at the
    median depth of the points (1 unit ahead for an empty cloud), so the unorbited view is the filmed one."""
    pts = np.asarray(cloud.points)
    return np.array([0.0, 0.0, float(np.median(pts[:, 2])) if len(pts) else 1.0])


def frame_index(path: Path) -> int:
    """The pass frame index of a cloud file named by it (``000123.ply`` -> 123); -1 for other names."""
    return int(path.stem) if path.stem.isdigit() else -1
