import math

import numpy as np
import pytest

from core.errors import DepthshotError
from core.geometry.camera import Intrinsics
from core.geometry.edges import EdgeRule, edge_confidence, grid_triangles, link_slopes


def tilted_plane(k: Intrinsics, angle_deg: float, distance: float = 2.0) -> np.ndarray:
    """Depth (H, W) of a plane at ``distance`` on the axis, its normal tilted by ``angle_deg`` about the y axis."""
    a = math.radians(angle_deg)
    n = np.array([math.sin(a), 0.0, -math.cos(a)])  # plane n . p = -distance * cos(a)
    xs = (np.arange(k.width) - k.cx) / k.fx
    ys = (np.arange(k.height) - k.cy) / k.fy
    rays = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], np.ones((k.height, k.width))), -1)
    return (-distance * math.cos(a) / (rays @ n)).astype(np.float32)


def test_triangles_never_bridge_a_step_edge():
    depth = np.full((24, 32), 1.5, np.float32)
    depth[:, 13:] = 6.0
    depth[17:, :5] = 6.0  # an L-shaped step
    k = Intrinsics.from_fov(32, 24)
    tris = grid_triangles(depth, 1 / k.fx, 1 / k.fy, EdgeRule())
    z = depth.reshape(-1)[tris]
    assert len(tris) > 0
    assert np.all(z.min(axis=1) == z.max(axis=1))  # every kept triangle lies on one side
    # only cells across a step lose (both) triangles: 23 cells at columns 12|13, 4 at rows 16|17, the corner
    # cell, and 6 at columns 4|5 below it
    assert len(tris) == 2 * (23 * 31 - 23 - 4 - 1 - 6)
    assert len(grid_triangles(np.full_like(depth, 1.5), 1 / k.fx, 1 / k.fy, EdgeRule())) == 2 * 23 * 31


def test_invalid_depth_cuts_triangles():
    depth = np.full((8, 8), 2.0, np.float32)
    depth[4, 4] = np.nan
    depth[0, 0] = 0.0
    tris = grid_triangles(depth, 0.01, 0.01, EdgeRule())
    assert 4 * 8 + 4 not in tris and 0 not in tris
    assert len(tris) == 2 * 7 * 7 - 6 - 1


def test_oblique_planes_are_kept_up_to_the_angle():
    k = Intrinsics.from_fov(96, 64, 60.0)
    # with a 60 degree lens, the rays meet a plane tilted by 50 degrees at 20..80 degrees from its normal
    for angle in (0.0, 30.0, 50.0):
        tris = grid_triangles(tilted_plane(k, angle), 1 / k.fx, 1 / k.fy, EdgeRule(max_angle_deg=85.0))
        assert len(tris) == 2 * 95 * 63, angle
    # with a lower limit, the part seen more obliquely is cut, the rest kept
    tris = grid_triangles(tilted_plane(k, 50.0), 1 / k.fx, 1 / k.fy, EdgeRule(max_angle_deg=50.0))
    assert 0.3 < len(tris) / (2 * 95 * 63) < 0.7


def test_slopes_are_scale_free_and_resolution_free():
    k = Intrinsics.from_fov(64, 48)
    depth = tilted_plane(k, 60.0)
    s = link_slopes(depth, 1 / k.fx, 1 / k.fy).horizontal
    np.testing.assert_allclose(link_slopes(depth * 37.0, 1 / k.fx, 1 / k.fy).horizontal, s, rtol=1e-5)
    k4 = Intrinsics.from_fov(256, 192)
    s4 = link_slopes(tilted_plane(k4, 60.0), 1 / k4.fx, 1 / k4.fy).horizontal
    # the centre link's slope: about tan(60 degrees) at either resolution
    assert s[24, 31] == pytest.approx(math.tan(math.radians(60.0)), rel=0.05)
    assert s4[96, 127] == pytest.approx(s[24, 31], rel=0.05)


def test_edge_confidence_is_low_only_between_the_sides_of_a_step():
    depth = np.full((16, 16), 2.0, np.float32)
    depth[:, 8:] = 2.5
    depth[:, 7] = 2.25  # one pixel interpolated across the step
    depth[0, 0] = np.nan
    c = edge_confidence(depth, 0.01, 0.01)
    assert c[5, 2] == 1.0 and c[0, 0] == 0.0
    assert (c[:, 7] < 0.1).all()  # the interpolated column
    assert (c[1:, 6] == 1.0).all() and (c[:, 8] == 1.0).all()  # both real sides of the step stay
    # a noisy foreground surface next to the step keeps its outline too
    rng = np.random.default_rng(0)
    noisy = depth + rng.normal(0, 1e-4, depth.shape).astype(np.float32)
    assert (edge_confidence(noisy, 0.01, 0.01)[1:, 6] > 0.9).all()


def test_edge_angle_is_checked_and_90_turns_the_rule_off():
    off = EdgeRule(max_angle_deg=90.0)
    assert not off.enabled and off.max_slope == math.inf and off.min_confidence == 0.0
    depth = np.full((8, 8), 1.0, np.float32)
    depth[:, 4:] = 9.0
    assert len(grid_triangles(depth, 0.01, 0.01, off)) == 2 * 7 * 7
    with pytest.raises(DepthshotError):
        EdgeRule(max_angle_deg=95.0)
    with pytest.raises(DepthshotError):
        EdgeRule(max_angle_deg=0.0)
    with pytest.raises(DepthshotError):
        link_slopes(np.ones(5), 0.1, 0.1)
