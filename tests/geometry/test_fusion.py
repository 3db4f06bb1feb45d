"""TSDF fusion's ``min_weight``: a voxel is meshed when at least that many frames saw it."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import DepthshotError
from core.geometry.camera import Intrinsics
from core.geometry.fusion import TsdfConfig, tsdf_mesh
from core.geometry.sequence import GeometryFrame

K = Intrinsics(50.0, 50.0, 31.5, 23.5, 64, 48)  # a wall at 2 m spans x in [-1.29, 1.29] m of each camera
WALL = 2.0
VOXEL = 0.05
TOL = 3 * VOXEL  # marching cubes and the hash blocks trim a view's edges by up to about 3 voxels


def wall_frame(i: int, x: float, depth: float | None = WALL) -> GeometryFrame:
    """A camera at (x, 0, 0) looking down +z at a wall ``depth`` away (None: no measured depth)."""
    pose = np.eye(4)
    pose[0, 3] = x
    d = np.full((K.height, K.width), np.nan if depth is None else depth, np.float32)
    return GeometryFrame(i, i / 10.0, d, np.full((K.height, K.width, 3), 128, np.uint8), K, pose=pose)


def x_extent(frames: list[GeometryFrame], **config) -> tuple[float, float]:
    mesh = tsdf_mesh(frames, TsdfConfig(voxel=VOXEL, **config))
    return float(mesh.vertices[:, 0].min()), float(mesh.vertices[:, 0].max())  # glTF axes keep x


def test_min_weight_meshes_what_at_least_that_many_frames_saw():
    half = (K.width / 2) / K.fx * WALL  # 1.28 m: half the wall one camera sees
    frames = [wall_frame(0, 0.0), wall_frame(1, 1.0), wall_frame(2, 2.0)]
    # seen by 1 frame: the union of the three views; by 2: where neighbours overlap; by 3: all three
    for min_weight, (lo, hi) in [(1, (-half, 2 + half)), (2, (1 - half, 1 + half)), (3, (2 - half, half))]:
        got = x_extent(frames, min_weight=min_weight)
        assert got == pytest.approx((lo, hi), abs=TOL), (min_weight, got)
    # two frames with the default (2): their overlap, not an empty volume
    assert x_extent(frames[:2]) == pytest.approx((1 - half, half), abs=TOL)
    # capped at the frames integrated: one frame alone is meshed whole
    assert x_extent(frames[:1], min_weight=3) == pytest.approx((-half, half), abs=TOL)


def test_frames_without_depth_in_range_are_skipped_and_not_counted():
    half = (K.width / 2) / K.fx * WALL
    frames = [wall_frame(0, 0.0), wall_frame(1, 1.0, depth=None), wall_frame(2, 1.0, depth=5.0)]
    # only frame 0 is integrated, so the default min_weight (2) is capped at 1 and its whole view is meshed
    assert x_extent(frames, depth_max=4.0) == pytest.approx((-half, half), abs=TOL)
    with pytest.raises(DepthshotError, match="no frames with depth in range"):
        tsdf_mesh(frames[1:], TsdfConfig(voxel=VOXEL, depth_max=4.0))


@pytest.mark.parametrize("bad", [0, 0.5, -1])
def test_min_weight_below_one_frame_is_refused(bad):
    with pytest.raises(DepthshotError, match="min_weight must be at least 1"):
        TsdfConfig(voxel=VOXEL, min_weight=bad)


def test_the_same_frames_give_the_same_mesh_in_a_canonical_order():
    # Open3D's extraction order follows its parallel hash map (it differed between runs before the mesh was
    # sorted); sorted, repeated runs give the same arrays, so the same file
    frames = [wall_frame(0, 0.0), wall_frame(1, 0.3), wall_frame(2, 0.6)]
    meshes = [tsdf_mesh(frames, TsdfConfig(voxel=VOXEL)) for _ in range(3)]
    v = meshes[0].vertices
    assert len(meshes[0].faces) > 100
    assert np.array_equal(np.lexsort((-v[:, 2], -v[:, 1], v[:, 0])), np.arange(len(v)))  # by x, y, z in OpenCV axes
    for other in meshes[1:]:
        for a, b in ((meshes[0].vertices, other.vertices), (meshes[0].faces, other.faces),
                     (meshes[0].vertex_normals, other.vertex_normals),
                     (meshes[0].visual.vertex_colors, other.visual.vertex_colors)):
            assert np.array_equal(a, b)
