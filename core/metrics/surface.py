"""Surface-to-surface distances between triangle meshes: area-uniform surface samples, point-to-mesh distance
(Open3D's ``RaycastingScene``), a symmetric Chamfer with an overlap cap, and a rigid ICP fit of one mesh onto another.

Unlike vertex-to-vertex distances, these do not depend on how finely the meshes are tessellated (at 1 cm TSDF
voxels, vertices of the same surface are several millimetres apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
import open3d.core as o3c
import trimesh

from core.errors import DepthshotError


def sample_surface(mesh: trimesh.Trimesh, count: int, seed: int = 0) -> np.ndarray:
    """``count`` points (count, 3) uniformly distributed over ``mesh``'s surface by area (same seed, same points)."""
    tri = np.asarray(mesh.vertices, np.float64)[np.asarray(mesh.faces)]  # (F, 3, 3)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if count < 1 or not area.sum() > 0:
        raise DepthshotError(f"need a mesh with area and count >= 1 to sample (count {count})")
    rng = np.random.default_rng(seed)
    face = rng.choice(len(tri), size=count, p=area / area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1  # fold the unit square onto the triangle
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[face]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])


def point_to_mesh(points: np.ndarray, mesh: trimesh.Trimesh) -> np.ndarray:
    """Distance (N,) from each of ``points`` (N, 3) to the nearest point on ``mesh``'s triangles (not its vertices)."""
    if len(mesh.faces) == 0:
        raise DepthshotError("the reference mesh has no triangles")
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3c.Tensor(np.asarray(mesh.vertices, np.float32)), o3c.Tensor(np.asarray(mesh.faces, np.uint32)))
    query = o3c.Tensor(np.ascontiguousarray(points, np.float32).reshape(-1, 3))
    return scene.compute_distance(query).numpy().astype(np.float64)


@dataclass(frozen=True)
class SurfaceChamfer:
    """Surface samples of each mesh measured against the other mesh, both ways (lengths in the meshes' units).

    ``median``: over all distances; ``overlap_median`` / ``overlap_mean``: over the distances below ``cap``
    (where the two surfaces overlap); ``overlap_fraction``: the share of all distances below ``cap``."""

    median: float
    overlap_median: float
    overlap_mean: float
    overlap_fraction: float
    cap: float


def surface_chamfer(a: trimesh.Trimesh, b: trimesh.Trimesh, cap: float, samples: int = 100_000,
                    seed: int = 0) -> SurfaceChamfer:
    """Symmetric surface Chamfer of meshes ``a`` and ``b``: ``samples`` area-uniform points of each, their
    distances to the other's triangles, with the overlap cut at ``cap``."""
    if not cap > 0:
        raise DepthshotError(f"the Chamfer distance cap must be positive, got {cap}")
    d = np.concatenate([point_to_mesh(sample_surface(a, samples, seed), b),
                        point_to_mesh(sample_surface(b, samples, seed + 1), a)])
    kept = d[d < cap]
    return SurfaceChamfer(
        median=float(np.median(d)),
        overlap_median=float(np.median(kept)) if len(kept) else float("nan"),
        overlap_mean=float(kept.mean()) if len(kept) else float("nan"),
        overlap_fraction=float(len(kept) / len(d)),
        cap=cap,
    )


def icp_fit(source: trimesh.Trimesh, target: trimesh.Trimesh, max_distance: float, samples: int = 100_000,
            init: np.ndarray | None = None) -> np.ndarray:
    """Rigid 4x4 transform (no scale) taking ``source`` onto ``target``: Open3D point-to-plane ICP between their
    surface samples, correspondences up to ``max_distance`` apart."""
    clouds = []
    for i, mesh in enumerate((source, target)):
        pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(sample_surface(mesh, samples, seed=i)))
        pc.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=4 * max_distance, max_nn=30))
        clouds.append(pc)
    result = o3d.pipelines.registration.registration_icp(
        clouds[0], clouds[1], max_distance, np.eye(4) if init is None else init,
        o3d.pipelines.registration.TransformationEstimationPointToPlane(),
        o3d.pipelines.registration.ICPConvergenceCriteria(max_iteration=50),
    )
    return np.asarray(result.transformation)
