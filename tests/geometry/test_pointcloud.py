import numpy as np
import open3d as o3d
import pytest
import trimesh

from core.errors import DepthshotError
from core.geometry.camera import Intrinsics
from core.geometry.edges import EdgeRule
from core.geometry.pointcloud import (
    PointCloudConfig,
    Points,
    depth_to_points,
    read_ply,
    write_ply,
)

from .conftest import frame_image, step_depth


def test_plane_at_known_depth_gives_points_on_the_plane():
    k = Intrinsics(fx=90.0, fy=95.0, cx=40.2, cy=29.9, width=80, height=60)
    image = frame_image(0, 80, 60)
    pts = depth_to_points(np.full((60, 80), 2.75, np.float32), image, k)
    assert len(pts) == 80 * 60
    np.testing.assert_allclose(pts.positions[:, 2], 2.75, rtol=1e-4)
    # pixel (u, v) lands at ((u - cx) / fx, (v - cy) / fy) * z, in row-major order
    v, u = np.divmod(np.arange(80 * 60), 80)
    np.testing.assert_allclose(pts.positions[:, 0], (u - k.cx) / k.fx * 2.75, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pts.positions[:, 1], (v - k.cy) / k.fy * 2.75, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(pts.colors, image.reshape(-1, 3))
    assert np.all(pts.confidence == 1.0)


def test_flying_pixels_between_a_step_are_removed_and_the_foreground_kept():
    depth = step_depth(160, 48)
    depth[:, 78:82] = np.linspace(2.0, 4.0, 6)[1:-1]  # a soft edge like a network's: 4 pixels in between
    k = Intrinsics.from_fov(160, 48)
    pts = depth_to_points(depth, frame_image(0, 160, 48), k)
    z = pts.positions[:, 2]
    assert np.all((z == 2.0) | (z == 4.0))
    # every real pixel stays, the foreground outline (column 77) included; only the interpolated ones go
    assert (z == 2.0).sum() == 48 * 78 and (z == 4.0).sum() == 48 * 78
    fg_x = pts.positions[z == 2.0, 0] / 2.0 * k.fx + k.cx
    assert np.isclose(fg_x.max(), 77.0, atol=1e-3)
    assert pts.confidence.min() >= PointCloudConfig().edges.min_confidence
    # --edge-angle 90 keeps them all
    off = depth_to_points(depth, frame_image(0, 160, 48), k, PointCloudConfig(edges=EdgeRule(90.0)))
    assert len(off) == 160 * 48


def test_unmeasured_points_have_zero_confidence():
    k = Intrinsics.from_fov(32, 24)
    filled = np.zeros((24, 32), bool)
    filled[5:9, 5:9] = True
    pts = depth_to_points(np.full((24, 32), 2.0, np.float32), frame_image(0, 32, 24), k, unmeasured=filled)
    assert len(pts) == 32 * 24
    assert (pts.confidence.reshape(24, 32)[filled] == 0).all() and (pts.confidence.reshape(24, 32)[~filled] == 1).all()


def test_stride_and_voxel_downsampling():
    k = Intrinsics.from_fov(64, 48)
    depth = np.full((48, 64), 2.0, np.float32)
    image = frame_image(1, 64, 48)
    strided = depth_to_points(depth, image, k, PointCloudConfig(stride=4))
    assert len(strided) == 16 * 12
    np.testing.assert_array_equal(strided.colors, image[::4, ::4].reshape(-1, 3))
    merged = depth_to_points(depth, image, k, PointCloudConfig(voxel=0.2))
    assert 0 < len(merged) < 64 * 48 / 4
    np.testing.assert_allclose(merged.positions[:, 2], 2.0, atol=0.11)


def test_ply_round_trip_with_open3d_and_trimesh(tmp_path):
    k = Intrinsics.from_fov(64, 48)
    image = frame_image(2, 64, 48)
    pts = depth_to_points(step_depth(64, 48), image, k)
    path = write_ply(tmp_path / "000000.ply", pts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000000.ply"]  # no temp file left
    assert path.stat().st_size == len(pts) * 19 + len(path.read_bytes().split(b"end_header\n")[0]) + 11

    legacy = o3d.io.read_point_cloud(str(path))
    assert len(legacy.points) == len(pts)
    np.testing.assert_allclose(np.asarray(legacy.points), pts.positions, rtol=1e-6)
    np.testing.assert_array_equal(np.rint(np.asarray(legacy.colors) * 255).astype(np.uint8), pts.colors)

    cloud = trimesh.load(path)
    assert len(cloud.vertices) == len(pts)
    np.testing.assert_array_equal(cloud.colors[:, :3], pts.colors)

    back = read_ply(path)
    np.testing.assert_array_equal(back.positions, pts.positions)
    np.testing.assert_array_equal(back.confidence, pts.confidence)


def test_empty_frame_is_written_and_read(tmp_path):
    pts = depth_to_points(np.full((8, 8), np.nan, np.float32), np.zeros((8, 8, 3), np.uint8), Intrinsics.from_fov(8, 8))
    assert len(pts) == 0
    assert len(read_ply(write_ply(tmp_path / "e.ply", pts))) == 0


def test_bad_inputs_raise_clear_errors(tmp_path):
    k = Intrinsics.from_fov(8, 8)
    with pytest.raises(DepthshotError, match="RGB uint8"):
        depth_to_points(np.ones((8, 8), np.float32), np.zeros((8, 9, 3), np.uint8), k)
    with pytest.raises(DepthshotError, match="stride"):
        PointCloudConfig(stride=0)
    with pytest.raises(DepthshotError, match="voxel"):
        PointCloudConfig(voxel=-1.0)
    with pytest.raises(DepthshotError, match=".ply"):
        write_ply(tmp_path / "x.xyz", Points(np.zeros((0, 3)), np.zeros((0, 3), np.uint8), np.zeros(0)))
    (tmp_path / "junk.ply").write_bytes(b"not a ply")
    with pytest.raises(DepthshotError, match="not a PLY"):
        read_ply(tmp_path / "junk.ply")
