"""One scene per shot: world-space point clouds merged per voxel, and Open3D scalable TSDF meshes.

Both take :class:`core.geometry.sequence.GeometryFrame` s carrying a world-from-camera ``pose`` (OpenCV axes)
and the measured depth only (the pass's mask applied). The fused cloud is in the shot's world in OpenCV axes,
like the per-frame clouds; the TSDF mesh is in glTF/Blender axes (``CV_TO_GL`` applied to the world), like the
per-frame meshes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import open3d as o3d
import open3d.core as o3c
import trimesh

from core.errors import DepthshotError
from core.geometry.camera import undistortion_maps
from core.geometry.pointcloud import Points, PointCloudConfig, depth_to_points, transform_points, voxel_merge
from core.geometry.poses import CV_TO_GL
from core.geometry.sequence import GeometryFrame


def fuse_points(frames: Iterable[GeometryFrame], voxel: float, config: PointCloudConfig = PointCloudConfig()) -> Points:
    """World-space points of all ``frames`` (each with a ``pose``) merged per cube of edge ``voxel`` (mean
    position, colour and confidence), merged frame by frame so memory stays at about one frame plus the scene."""
    if not voxel > 0:
        raise DepthshotError(f"fusion voxel size must be positive, got {voxel}")
    fused: Points | None = None
    for f in frames:
        if f.pose is None:
            raise DepthshotError(f"frame {f.index} has no pose")
        pts = transform_points(depth_to_points(f.depth, f.image, f.intrinsics, config, f.unmeasured), f.pose)
        if fused is not None:
            pts = Points(np.concatenate([fused.positions, pts.positions]), np.concatenate([fused.colors, pts.colors]),
                         np.concatenate([fused.confidence, pts.confidence]))
        fused = voxel_merge(pts, voxel)
    if fused is None:
        raise DepthshotError("no frames to fuse")
    return fused


@dataclass(frozen=True)
class TsdfConfig:
    """``voxel``: TSDF voxel edge (scene units); ``truncation``: the signed-distance band, in voxels;
    ``depth_max``: depth beyond this is not integrated (None: no limit); ``min_weight``: only voxels seen by at
    least this many frames are meshed (capped at the number of frames integrated; at least 1); ``block_count``:
    initial hash capacity in blocks of 8^3 voxels (it grows)."""

    voxel: float
    truncation: float = 4.0
    depth_max: float | None = None
    min_weight: int = 2
    block_count: int = 20000

    def __post_init__(self) -> None:
        if not self.voxel > 0:
            raise DepthshotError(f"TSDF voxel size must be positive, got {self.voxel}")
        if not self.min_weight >= 1:
            raise DepthshotError(f"TSDF min_weight must be at least 1 frame, got {self.min_weight}")


def tsdf_mesh(frames: Iterable[GeometryFrame], config: TsdfConfig) -> trimesh.Trimesh:
    """Integrate ``frames`` (each with a ``pose``; NaN depth is not integrated) into an Open3D scalable TSDF
    volume and extract its coloured triangle mesh: vertices in glTF/Blender axes of the shot's world, per-vertex
    colours and normals. Lenses with distortion are undistorted first (colour bilinear, depth nearest). Frames
    without depth in range (none measured, or all beyond ``depth_max``) are skipped and not counted.

    The volume is Open3D's ``t.geometry.VoxelBlockGrid`` (hash-mapped voxel blocks allocated where surfaces are,
    the tensor successor of ``ScalableTSDFVolume``, which extracts empty meshes in open3d-cpu 0.20).
    """
    grid = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight", "color"),
        attr_dtypes=(o3c.float32, o3c.float32, o3c.float32),
        attr_channels=(1, 1, 3),
        voxel_size=config.voxel,
        block_resolution=8,
        block_count=config.block_count,
        device=o3c.Device("CPU:0"),
    )
    maps, n = None, 0
    for f in frames:
        if f.pose is None:
            raise DepthshotError(f"frame {f.index} has no pose")
        k = f.intrinsics
        depth = np.nan_to_num(f.depth, nan=0.0).astype(np.float32)
        image = f.image
        if k.distortion:
            maps = maps or undistortion_maps(k)
            image = cv2.remap(image, *maps, cv2.INTER_LINEAR)
            depth = cv2.remap(depth, *maps, cv2.INTER_NEAREST)
        depth_max = config.depth_max if config.depth_max is not None else float(depth.max()) * 1.01 + 1e-6
        if not ((depth > 0) & (depth <= depth_max)).any():
            continue
        depth_t = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(depth)))
        color_t = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(image, dtype=np.float32) / 255.0))
        intrinsic = o3c.Tensor(k.undistorted().matrix, o3c.float64)
        extrinsic = o3c.Tensor(np.linalg.inv(f.pose), o3c.float64)  # camera-from-world
        blocks = grid.compute_unique_block_coordinates(
            depth_t, intrinsic, extrinsic, depth_scale=1.0, depth_max=depth_max,
            trunc_voxel_multiplier=config.truncation,
        )
        grid.integrate(blocks, depth_t, color_t, intrinsic, intrinsic, extrinsic, depth_scale=1.0,
                       depth_max=depth_max, trunc_voxel_multiplier=config.truncation)
        n += 1
    if n == 0:
        raise DepthshotError("no frames with depth in range to integrate")
    # a voxel's weight counts the frames integrated into it; Open3D meshes weights strictly above the threshold
    mesh = grid.extract_triangle_mesh(weight_threshold=math.ceil(min(config.min_weight, n)) - 0.5).to_legacy()
    if len(mesh.triangles) == 0:
        raise DepthshotError("the TSDF volume holds no surface (voxel too large for the depth?)")
    mesh = canonical_order(mesh)
    mesh.compute_vertex_normals()
    vertices = np.asarray(mesh.vertices) @ CV_TO_GL[:3, :3].T  # a rotation: the winding stays outward
    normals = np.asarray(mesh.vertex_normals) @ CV_TO_GL[:3, :3].T
    colors = np.clip(np.rint(np.asarray(mesh.vertex_colors) * 255), 0, 255).astype(np.uint8)
    return trimesh.Trimesh(vertices=vertices, faces=np.asarray(mesh.triangles), vertex_normals=normals,
                           vertex_colors=colors, process=False)


def canonical_order(mesh: o3d.geometry.TriangleMesh) -> o3d.geometry.TriangleMesh:
    """``mesh`` (vertices, colours, triangles) with its vertices sorted by position (x, then y, then z) and its
    triangles by their vertex indices (each starting at its smallest, winding kept). Open3D extracts a
    ``VoxelBlockGrid``'s mesh in the order of its parallel hash map, which differs from run to run; in this order
    the same surface is the same file (one process or a Ray task). Vertices at the same position keep their
    relative order (none such seen in Open3D's extraction)."""
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.triangles)
    order = np.lexsort((v[:, 2], v[:, 1], v[:, 0]))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    f = rank[f]
    f = np.take_along_axis(f, (np.argmin(f, axis=1)[:, None] + np.arange(3)) % 3, axis=1)  # a rotation: same winding
    f = f[np.lexsort((f[:, 2], f[:, 1], f[:, 0]))]
    out = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(v[order]), o3d.utility.Vector3iVector(f))
    out.vertex_colors = o3d.utility.Vector3dVector(np.asarray(mesh.vertex_colors)[order])
    return out


def nearest_distances(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Distance (N,) from each of ``points`` (N, 3) to its nearest neighbour in ``reference`` (M, 3) (Open3D
    KD-tree); Chamfer distances are these both ways."""
    if len(reference) == 0:
        raise DepthshotError("no reference points")
    a, b = o3d.geometry.PointCloud(), o3d.geometry.PointCloud()
    a.points = o3d.utility.Vector3dVector(np.asarray(points, np.float64))
    b.points = o3d.utility.Vector3dVector(np.asarray(reference, np.float64))
    return np.asarray(a.compute_point_cloud_distance(b))
