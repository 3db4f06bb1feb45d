"""Surface-to-surface metrics on meshes whose distances are known analytically."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from core.errors import DepthshotError
from core.metrics.surface import icp_fit, point_to_mesh, sample_surface, surface_chamfer

N = 20_000


def plane(x0: float, x1: float, z: float, cells: int = 1) -> trimesh.Trimesh:
    """The rectangle [x0, x1] x [0, 1] at height ``z``, split into ``cells`` x ``cells`` squares (2 triangles each)."""
    xs, ys = np.linspace(x0, x1, cells + 1), np.linspace(0.0, 1.0, cells + 1)
    vx, vy = np.meshgrid(xs, ys, indexing="ij")
    vertices = np.stack([vx.ravel(), vy.ravel(), np.full(vx.size, z)], axis=1)
    idx = np.arange(vx.size).reshape(cells + 1, cells + 1)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return trimesh.Trimesh(vertices, faces, process=False)


def test_samples_lie_on_the_surface_spread_by_area():
    mesh = trimesh.util.concatenate([plane(0.0, 1.0, 0.0), plane(2.0, 5.0, 0.0)])  # areas 1 and 3
    pts = sample_surface(mesh, N)
    assert pts.shape == (N, 3) and np.abs(pts[:, 2]).max() < 1e-12
    assert (pts[:, 0] < 1.5).mean() == pytest.approx(0.25, abs=0.02)
    assert np.allclose(sample_surface(mesh, 100, seed=3), sample_surface(mesh, 100, seed=3))
    assert point_to_mesh(pts[:1000], mesh).max() < 1e-5


def test_parallel_planes_5_mm_apart_and_the_overlap_cap():
    # a coarse plane against a finely tessellated one: the distance is to the triangles, not to the vertices
    r = surface_chamfer(plane(0.0, 1.0, 0.0), plane(0.0, 1.0, 0.005, cells=7), cap=0.01, samples=N)
    assert r.median == pytest.approx(0.005, abs=1e-5)
    assert r.overlap_mean == pytest.approx(0.005, abs=1e-5) and r.overlap_fraction == 1.0
    assert surface_chamfer(plane(0.0, 1.0, 0.0), plane(0.0, 1.0, 0.0, cells=7), cap=0.01, samples=N).median < 1e-6
    # the second plane twice as long: half of its samples have no counterpart within the cap
    r = surface_chamfer(plane(0.0, 1.0, 0.0), plane(0.0, 2.0, 0.005), cap=0.01, samples=N)
    assert r.overlap_fraction == pytest.approx(0.75, abs=0.02)
    assert r.overlap_median == pytest.approx(0.005, abs=1e-5)
    assert r.overlap_mean < 0.0051  # the far half of the long plane is left out of the mean
    with pytest.raises(DepthshotError, match="cap"):
        surface_chamfer(plane(0.0, 1.0, 0.0), plane(0.0, 1.0, 0.0), cap=0.0)


def test_a_sphere_against_itself_shifted():
    # a point at angle theta from the shift on a unit sphere is s |cos theta| from the shifted sphere, and
    # cos theta is uniform over the sphere's surface: median and mean s / 2
    s = 0.05
    sphere = trimesh.creation.icosphere(subdivisions=5)
    moved = sphere.copy()
    moved.apply_translation([s, 0.0, 0.0])
    r = surface_chamfer(sphere, moved, cap=1.0, samples=N)
    assert r.median == pytest.approx(s / 2, abs=0.002)
    assert r.overlap_mean == pytest.approx(s / 2, abs=0.002)


def test_icp_fit_undoes_a_small_rigid_motion():
    box = trimesh.creation.box(extents=(1.0, 0.6, 0.3)).subdivide().subdivide()
    motion = trimesh.transformations.rotation_matrix(np.radians(2.0), [0.3, 1.0, 0.2])
    motion[:3, 3] = [0.01, -0.005, 0.008]
    moved = box.copy()
    moved.apply_transform(motion)
    assert surface_chamfer(moved, box, cap=0.1, samples=N).overlap_mean > 0.003
    fit = icp_fit(moved, box, max_distance=0.05, samples=N)
    np.testing.assert_allclose(fit @ motion, np.eye(4), atol=2e-3)
    moved.apply_transform(fit)
    assert surface_chamfer(moved, box, cap=0.1, samples=N).overlap_mean < 5e-4
