import numpy as np
import pytest

from core.metrics import pose_matrix, reprojection_abs_rel, tae

K = np.array([[40.0, 0, 31.5], [0, 40.0, 23.5], [0, 0, 1]])


def translated(x: float) -> np.ndarray:
    return pose_matrix(np.array([x, 0.0, 0.0]), np.array([0.0, 0.0, 0.0, 1.0]))


def test_pose_matrix_rotation():
    # 90 degrees about z: x axis goes to y
    m = pose_matrix(np.zeros(3), np.array([0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)]))
    np.testing.assert_allclose(m[:3, :3] @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_consistent_plane_under_motion_scores_zero():
    depths = [np.full((48, 64), 2.0) for _ in range(3)]
    poses = [translated(0.1 * i) for i in range(3)]
    assert tae(depths, poses, K) == pytest.approx(0.0, abs=1e-12)


def test_tilted_scene_consistent_depth_scores_zero():
    # plane z = 2 + 0.01 * X (world = camera 0); depth per frame rendered exactly for each camera position
    h, w = 48, 64
    v, u = np.mgrid[0:h, 0:w]
    depths, poses = [], []
    for i in range(3):
        tx = 0.05 * i
        a = (u - K[0, 2]) / K[0, 0]
        # point in camera i: (a z, ., z); world X = a z + tx; z = 2 + 0.01 (a z + tx)
        z = (2 + 0.01 * tx) / (1 - 0.01 * a)
        depths.append(z)
        poses.append(translated(tx))
    # nearest-pixel sampling leaves a tiny residual of the plane's slope over half a pixel
    assert tae(depths, poses, K) < 1e-4


def test_known_scale_error():
    d0 = np.full((48, 64), 2.0)
    d1 = d0 * 1.1
    # a -> b: |2 - 2.2| / 2.2; b -> a: |2.2 - 2| / 2; same with or without motion for a fronto-parallel plane
    expected = (0.2 / 2.2 + 0.2 / 2.0) / 2
    assert tae([d0, d1], [translated(0), translated(0)], K) == pytest.approx(expected, rel=1e-12)
    assert tae([d0, d1], [translated(0), translated(0.2)], K) == pytest.approx(expected, rel=1e-12)


def test_pixels_leaving_the_view_are_ignored():
    d = np.full((48, 64), 2.0)
    # move far right: most pixels leave; the ones that stay still agree
    assert reprojection_abs_rel(d, d, K, np.linalg.inv(translated(1.5)) @ translated(0)) == pytest.approx(0.0)
    assert np.isnan(reprojection_abs_rel(d, d, K, np.linalg.inv(translated(100.0))))


def test_needs_two_frames():
    with pytest.raises(ValueError):
        tae([np.ones((4, 4))], [np.eye(4)], K)
