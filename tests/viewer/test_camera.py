import numpy as np
import pytest

from core.errors import DepthshotError
from core.viewer.camera import View, follow_extrinsic, look_at_extrinsic, orbit_eye


def test_orbit_zero_is_the_recording_camera_and_positive_moves_right():
    centre = np.array([0.0, 0.0, 2.0])
    np.testing.assert_allclose(orbit_eye(centre, 0.0), [0.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(orbit_eye(centre, 90.0), [2.0, 0.0, 2.0], atol=1e-12)  # +x is right
    assert np.linalg.norm(orbit_eye(centre, 33.0) - centre) == pytest.approx(2.0)


def test_vertical_fov_follows_the_aspect():
    assert View(hfov_deg=90.0, size=(200, 200)).vfov_deg == pytest.approx(90.0)
    assert View(hfov_deg=60.0, size=(1920, 1080)).vfov_deg == pytest.approx(35.98, abs=0.01)
    with pytest.raises(DepthshotError):
        View(size=(8, 8))


def test_look_at_extrinsic_puts_the_target_straight_ahead():
    np.testing.assert_allclose(look_at_extrinsic(np.zeros(3), np.array([0.0, 0.0, 2.0])), np.eye(4), atol=1e-12)
    centre = np.array([0.0, 0.0, 2.0])
    eye = orbit_eye(centre, 40.0)
    ext = look_at_extrinsic(eye, centre)
    np.testing.assert_allclose(ext[:3, :3] @ ext[:3, :3].T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(ext[:3, :3] @ eye + ext[:3, 3], 0.0, atol=1e-12)  # the eye is the camera centre
    np.testing.assert_allclose(ext[:3, :3] @ centre + ext[:3, 3], [0.0, 0.0, 2.0], atol=1e-12)  # straight ahead
    np.testing.assert_allclose(ext[1, :3], [0.0, 1.0, 0.0], atol=1e-12)  # image y stays world y (down)


def test_following_is_the_filming_camera_and_orbits_about_the_centre_it_sees():
    from tests.geometry.moving import exact_poses

    pose = exact_poses(5)[-1]  # world-from-camera, moved and turned
    np.testing.assert_allclose(follow_extrinsic(pose, np.array([0.0, 0.0, 2.0])), np.linalg.inv(pose), atol=1e-12)
    centre = np.array([0.1, 0.0, 2.0])  # in the filming camera's axes
    ext = follow_extrinsic(pose, centre, 30.0)
    world_centre = pose[:3, :3] @ centre + pose[:3, 3]
    seen = ext[:3, :3] @ world_centre + ext[:3, 3]
    np.testing.assert_allclose(seen, [0.0, 0.0, np.linalg.norm(centre)], atol=1e-9)  # straight ahead, as far
    eye = -ext[:3, :3].T @ ext[:3, 3]
    filming = pose[:3, :3].T @ (eye - pose[:3, 3])  # the orbiting eye in the filming camera's axes
    assert filming[0] > 0.5  # orbited 30 degrees to the right of the filming camera
