import math

import numpy as np
import pytest

from core.errors import DepthshotError
from core.metrics.trajectory import interpolate_poses


def _pose(angle_deg: float, t: tuple[float, float, float]) -> np.ndarray:
    a = math.radians(angle_deg)
    m = np.eye(4)
    m[:3, :3] = [[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]]
    m[:3, 3] = t
    return m


def test_interpolation_is_linear_in_translation_and_along_the_rotation():
    poses = np.stack([_pose(0, (0, 0, 0)), _pose(90, (1, 2, 0)), _pose(90, (1, 2, 4))])
    out = interpolate_poses(np.array([10.0, 10.1, 10.2]), poses, np.array([10.025, 10.1, 10.15, 9.95]))
    np.testing.assert_allclose(out[0], _pose(22.5, (0.25, 0.5, 0)), atol=1e-12)
    np.testing.assert_allclose(out[1], poses[1], atol=1e-12)
    np.testing.assert_allclose(out[2], _pose(90, (1, 2, 2)), atol=1e-12)
    np.testing.assert_allclose(out[3], _pose(-45, (-0.5, -1, 0)), atol=1e-12)  # the first interval extrapolated


def test_interpolation_needs_increasing_stamps():
    with pytest.raises(DepthshotError):
        interpolate_poses(np.array([1.0, 1.0]), np.stack([np.eye(4)] * 2), np.array([1.0]))
