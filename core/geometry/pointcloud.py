"""Coloured point clouds from depth + image, and their binary PLY files (Open3D)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open3d as o3d

from core.atomic import atomic_path
from core.errors import DepthshotError
from core.geometry.camera import Intrinsics, unproject
from core.geometry.edges import EdgeRule, edge_confidence


@dataclass(frozen=True)
class PointCloudConfig:
    """``stride``: keep every stride-th pixel in x and y; ``voxel``: if set, merge points per cube of this edge
    (scene units, averaging colour and confidence); ``edges``: flying-pixel rule (points whose edge confidence is
    below ``cos(max_angle)`` are dropped)."""

    stride: int = 1
    voxel: float | None = None
    edges: EdgeRule = EdgeRule()

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise DepthshotError(f"stride must be >= 1, got {self.stride}")
        if self.voxel is not None and not self.voxel > 0:
            raise DepthshotError(f"voxel size must be positive, got {self.voxel}")


@dataclass
class Points:
    """A point cloud in OpenCV camera axes: ``positions`` (N, 3) float32 (scene units), ``colors`` (N, 3)
    uint8 RGB, ``confidence`` (N,) float32 in [0, 1] (edge confidence, see :mod:`core.geometry.edges`)."""

    positions: np.ndarray
    colors: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.positions)


def depth_to_points(
    depth: np.ndarray,
    image: np.ndarray,
    k: Intrinsics,
    config: PointCloudConfig = PointCloudConfig(),
    unmeasured: np.ndarray | None = None,
) -> Points:
    """Unproject ``depth`` (H, W) (along the optical axis, NaN/<=0 = none) coloured by ``image`` (H, W, 3)
    uint8 RGB with intrinsics ``k``; drops invalid and flying pixels, then applies stride and voxel merging.
    ``unmeasured``: bool (H, W), pixels whose depth was filled or is unreliable (kept only when the caller left
    their depth in): their confidence is 0."""
    if image.shape != (*depth.shape, 3) or image.dtype != np.uint8:
        raise DepthshotError(f"image must be {depth.shape[1]}x{depth.shape[0]} RGB uint8, got {image.shape} {image.dtype}")
    s = config.stride
    confidence = edge_confidence(depth, 1.0 / k.fx, 1.0 / k.fy)[::s, ::s]
    ok = (depth[::s, ::s] > 0) & (confidence >= np.float32(config.edges.min_confidence))  # NaN depth: False
    if unmeasured is not None:
        confidence = np.where(unmeasured[::s, ::s], np.float32(0.0), confidence)
    confidence = confidence.reshape(-1)
    keep = np.flatnonzero(ok.reshape(-1))  # np.take: faster than a mask
    points = Points(
        positions=np.take(unproject(depth, k)[::s, ::s].reshape(-1, 3), keep, axis=0),
        colors=np.take(image[::s, ::s].reshape(-1, 3), keep, axis=0),
        confidence=np.take(confidence, keep),
    )
    return points if config.voxel is None else voxel_merge(points, config.voxel)


def transform_points(points: Points, pose: np.ndarray) -> Points:
    """``points`` moved by the 4x4 ``pose`` (world-from-camera: camera space -> world space)."""
    r, t = np.asarray(pose, np.float64)[:3, :3], np.asarray(pose, np.float64)[:3, 3]
    positions = (points.positions.astype(np.float64) @ r.T + t).astype(np.float32)
    return Points(positions, points.colors, points.confidence)


def to_open3d(points: Points) -> o3d.t.geometry.PointCloud:
    """The tensor point cloud with attributes ``positions``, ``colors`` (uint8) and ``confidence`` (N, 1)."""
    cloud = o3d.t.geometry.PointCloud()
    cloud.point.positions = o3d.core.Tensor(np.ascontiguousarray(points.positions, dtype=np.float32))
    cloud.point.colors = o3d.core.Tensor(np.ascontiguousarray(points.colors, dtype=np.uint8))
    cloud.point.confidence = o3d.core.Tensor(np.ascontiguousarray(points.confidence, dtype=np.float32)[:, None])
    return cloud


def from_open3d(cloud: o3d.t.geometry.PointCloud) -> Points:
    """Inverse of :func:`to_open3d` (confidence 1 where the cloud has none)."""
    positions = cloud.point.positions.numpy().astype(np.float32, copy=False)
    n = len(positions)
    colors = cloud.point.colors.numpy() if "colors" in cloud.point else np.full((n, 3), 255, np.uint8)
    if colors.dtype != np.uint8:
        colors = np.clip(np.rint(colors * 255.0), 0, 255).astype(np.uint8)
    confidence = cloud.point.confidence.numpy()[:, 0] if "confidence" in cloud.point else np.ones(n, np.float32)
    return Points(positions, colors, confidence.astype(np.float32, copy=False))


def voxel_merge(points: Points, voxel: float) -> Points:
    """Merge the points in each cube of edge ``voxel`` into one (mean position, colour and confidence)."""
    if len(points) == 0:
        return points
    return from_open3d(to_open3d(points).voxel_down_sample(voxel))


_PLY_VERTEX = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"), ("confidence", "<f4")]
)


def write_ply(path: str | os.PathLike[str], points: Points) -> Path:
    """Write a binary little-endian PLY (x, y, z float32; red, green, blue uint8; confidence float32; 19 bytes a
    point), atomically (temp name in the same folder, then rename). Open3D, trimesh and Blender read it; unlike
    Open3D's writer it also writes an empty frame. Returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".ply":
        raise DepthshotError(f"point cloud file must end in .ply, got {path.name}")
    vertices = np.empty(len(points), dtype=_PLY_VERTEX)
    for axis, name in enumerate("xyz"):
        vertices[name] = points.positions[:, axis]
    for channel, name in enumerate(("red", "green", "blue")):
        vertices[name] = points.colors[:, channel]
    vertices["confidence"] = points.confidence
    header = "".join(
        [
            "ply\nformat binary_little_endian 1.0\ncomment depthshot point cloud, OpenCV camera axes\n",
            f"element vertex {len(points)}\n",
            *(f"property {'float' if t.kind == 'f' else 'uchar'} {n}\n" for n, (t, _) in _PLY_VERTEX.fields.items()),
            "end_header\n",
        ]
    )
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        f.write(header.encode("ascii"))
        vertices.tofile(f)
    return path


def read_ply(path: str | os.PathLike[str]) -> Points:
    """Read a point cloud written by :func:`write_ply` (or any PLY with positions and optional colours)."""
    path = Path(path)
    if not path.is_file():
        raise DepthshotError(f"no such point cloud: {path}")
    with path.open("rb") as f:
        if f.read(4) != b"ply\n":
            raise DepthshotError(f"not a PLY file: {path}")
    cloud = o3d.t.io.read_point_cloud(str(path))
    if "positions" not in cloud.point:
        return Points(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8), np.zeros(0, np.float32))
    return from_open3d(cloud)
