import math

import numpy as np
import pytest

from core.errors import DepthshotError
from core.geometry.camera import (
    DEFAULT_HFOV_DEG,
    DepthRange,
    Intrinsics,
    blender_lens,
    inverse_depth_to_depth,
    opencv_to_blender,
    raw_to_depth,
    resolve_intrinsics,
    unproject,
)


def test_from_fov_gives_the_field_of_view_and_centred_principal_point():
    k = Intrinsics.from_fov(160, 90, 90.0)
    assert k.fx == pytest.approx(80.0) and k.fy == pytest.approx(80.0)
    assert (k.cx, k.cy) == (79.5, 44.5)
    assert k.hfov_deg == pytest.approx(90.0)


def test_plane_at_known_depth_unprojects_onto_the_plane_and_projects_back():
    k = Intrinsics(fx=120.0, fy=110.0, cx=70.3, cy=41.7, width=128, height=96)
    z = 3.7
    pts = unproject(np.full((96, 128), z, np.float32), k).astype(np.float64)
    np.testing.assert_allclose(pts[..., 2], z, rtol=1e-4)
    u = k.fx * pts[..., 0] / pts[..., 2] + k.cx
    v = k.fy * pts[..., 1] / pts[..., 2] + k.cy
    np.testing.assert_allclose(u, np.arange(128)[None, :].repeat(96, 0), atol=1e-3)
    np.testing.assert_allclose(v, np.arange(96)[:, None].repeat(128, 1), atol=1e-3)
    # OpenCV axes: the top-left pixel is left (x < 0) and up (y < 0)
    assert pts[0, 0, 0] < 0 and pts[0, 0, 1] < 0


def test_resolve_intrinsics_priority():
    known = {"fx": 500.0, "fy": 490.0, "cx": 320.0, "cy": 240.0}
    assert resolve_intrinsics(64, 48).hfov_deg == pytest.approx(DEFAULT_HFOV_DEG)
    # the pass's intrinsics (given for 640x480) scaled to the 64x48 depth
    k = resolve_intrinsics(64, 48, known=known, known_size=(640, 480))
    assert (k.fx, k.fy) == pytest.approx((50.0, 49.0))
    assert (k.cx, k.cy) == pytest.approx((31.55, 23.55))  # pixel centres: (c + 0.5) * s - 0.5
    assert resolve_intrinsics(64, 48, fov_deg=90.0, known=known).fx == pytest.approx(32.0)
    k = resolve_intrinsics(64, 48, fx=40.0, known=known)
    assert (k.fx, k.fy, k.cx, k.cy) == (40.0, 40.0, 31.5, 23.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fov_deg": 0.0},
        {"fov_deg": 180.0},
        {"fx": -1.0},
        {"fy": 3.0},
        {"fx": 50.0, "fov_deg": 60.0},
        {"known": {"fx": "a lot"}},
    ],
)
def test_bad_intrinsics_raise_clear_errors(kwargs):
    with pytest.raises(DepthshotError):
        resolve_intrinsics(64, 48, **kwargs)


def test_relative_inverse_depth_maps_to_a_bounded_range():
    inv = np.array([[0.5, 1.0, 3.0, 5.0]], np.float32)
    depth = inverse_depth_to_depth(inv, lo=1.0, hi=3.0, depth_range=DepthRange(near=2.0, ratio=8.0))
    assert depth[0, 2] == pytest.approx(2.0)  # hi -> near
    assert depth[0, 1] == pytest.approx(16.0)  # lo -> near * ratio
    assert depth[0, 0] == pytest.approx(16.0) and depth[0, 3] == pytest.approx(2.0)  # clamped
    # inverse depth is affine in the raw value: the midpoint is the mean of 1/near and 1/far
    mid = inverse_depth_to_depth(np.array([[2.0]]), 1.0, 3.0, DepthRange(2.0, 8.0))
    assert 1.0 / mid[0, 0] == pytest.approx((1 / 2.0 + 1 / 16.0) / 2)


def test_relative_depth_of_a_flat_shot_sits_at_near():
    assert np.all(inverse_depth_to_depth(np.ones((2, 2)), 1.0, 1.0, DepthRange(near=3.0)) == 3.0)


def test_metric_depth_is_used_as_is_and_holes_become_nan():
    raw = np.array([[1.25, 0.0, 7.5]], np.float32)
    depth = raw_to_depth(raw, "metric_depth", lo=0.0, hi=10.0)
    assert depth[0, 0] == 1.25 and depth[0, 2] == 7.5 and np.isnan(depth[0, 1])
    assert raw[0, 1] == 0.0  # input untouched


@pytest.mark.parametrize("bad", [lambda: DepthRange(near=0.0), lambda: DepthRange(ratio=1.0),
                                 lambda: raw_to_depth(np.ones((2, 2)), "disparity", 0, 1)])
def test_bad_depth_settings_raise(bad):
    with pytest.raises(DepthshotError):
        bad()


def test_opencv_to_blender_flips_y_and_z():
    p = np.array([[1.0, 2.0, 3.0]], np.float32)
    q = opencv_to_blender(p)
    np.testing.assert_array_equal(q, [[1.0, -2.0, -3.0]])
    assert q.dtype == np.float32 and p[0, 1] == 2.0
    np.testing.assert_array_equal(opencv_to_blender(q), p)


def test_resized_keeps_the_field_of_view_and_principal_point():
    k = Intrinsics.from_fov(1920, 1080, 70.0).resized(480, 270)
    assert k.hfov_deg == pytest.approx(70.0)
    assert (k.cx, k.cy) == pytest.approx((239.5, 134.5))


def test_blender_lens_matches_the_field_of_view():
    k = Intrinsics.from_fov(1920, 1080, 60.0)
    lens = blender_lens(k)
    assert 2 * math.degrees(math.atan(lens.sensor_width_mm / 2 / lens.lens_mm)) == pytest.approx(60.0)
    assert (lens.shift_x, lens.shift_y, lens.pixel_aspect) == pytest.approx((0.0, 0.0, 1.0))
    shifted = blender_lens(Intrinsics(1000.0, 1000.0, 959.5 - 192.0, 539.5 + 96.0, 1920, 1080))
    assert (shifted.shift_x, shifted.shift_y) == pytest.approx((0.1, 0.05))
