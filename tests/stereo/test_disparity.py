import math

import numpy as np
import pytest

from core.depth.depth_pass import Shot
from core.errors import DepthshotError
from core.stereo.disparity import (
    DisparityConfig,
    convergence_track,
    metric_disparity,
    nearness,
    relative_disparity,
    subject_nearness,
)

SHOT = Shot(index=0, start=0, end=10, lo=0.0, hi=10.0, p2=1.0, p98=9.0)


def test_normalisation_is_per_shot_not_per_frame():
    a = np.full((4, 8), 5.0, np.float32)
    a[:, :2] = 9.0
    b = a.copy()
    b[:, 6:] = 1.0  # a different per-frame range in the same shot
    na, nb = nearness(a, SHOT, "relative_inverse_depth"), nearness(b, SHOT, "relative_inverse_depth")
    assert np.allclose(na[:, 2:6], 0.5) and np.allclose(nb[:, 2:6], 0.5)
    assert np.allclose(na[:, :2], 1.0) and np.allclose(nb[:, 6:], 0.0)
    other = Shot(index=1, start=10, end=20, lo=0.0, hi=10.0, p2=3.0, p98=7.0)
    assert np.allclose(nearness(a, other, "relative_inverse_depth")[:, 2:6], 0.5)
    assert np.allclose(nearness(a, other, "relative_inverse_depth")[:, :2], 1.0)  # clipped at the robust bound


def test_metric_nearness_inverts_depth_and_treats_missing_as_far():
    shot = Shot(index=0, start=0, end=1, lo=0.5, hi=4.0, p2=1.0, p98=4.0)
    z = np.array([[1.0, 4.0, 2.0, 0.0]], np.float32)
    n = nearness(z, shot, "metric_depth")
    assert n[0, 0] == pytest.approx(1.0) and n[0, 1] == pytest.approx(0.0) and n[0, 3] == 0.0
    assert n[0, 2] == pytest.approx((0.5 - 0.25) / (1.0 - 0.25))


def test_divergence_and_convergence_map_nearness_to_pixels():
    cfg = DisparityConfig(divergence=2.0, convergence=0.25)
    d = relative_disparity(np.array([[0.0, 0.25, 1.0]], np.float32), cfg, 1000, cfg.convergence)
    assert d[0].tolist() == pytest.approx([-5.0, 0.0, 15.0])  # 2 % of 1000 px = 20 px in total


def test_physical_screen_caps_parallax():
    # 1 m wide screen at 2 m: 1 degree = 3.49 cm = 34.9 px of 1000 on either side
    cfg = DisparityConfig(divergence=10.0, convergence=0.5, screen_width=1.0, viewing_distance=2.0)
    d = relative_disparity(np.array([[0.0, 1.0]], np.float32), cfg, 1000, 0.5)
    limit = 2.0 * math.tan(math.radians(1.0)) * 1000
    assert d[0, 1] == pytest.approx(limit, rel=1e-5) and d[0, 0] == pytest.approx(-limit, rel=1e-5)
    # far screen: the behind-screen parallax never exceeds the eye separation
    cfg = DisparityConfig(divergence=20.0, convergence=1.0, screen_width=1.0, viewing_distance=10.0)
    d = relative_disparity(np.array([[0.0]], np.float32), cfg, 1000, 1.0)
    assert d[0, 0] == pytest.approx(-63.0, rel=1e-5)
    # a generous screen does not raise a small divergence
    cfg = DisparityConfig(divergence=1.0, screen_width=1.0, viewing_distance=3.0)
    assert cfg.budget_px(1000, 0.5) == pytest.approx(10.0)


def test_metric_disparity_is_geometric():
    shot = Shot(index=0, start=0, end=1, lo=1.0, hi=4.0, p2=1.0, p98=4.0)
    cfg = DisparityConfig(mode="metric", ipd=0.06)
    z = np.array([[1.0, 2.0, 4.0]], np.float32)
    d = metric_disparity(z, shot, cfg, fx=500.0, convergence=0.0)  # screen at the far end (4 m)
    assert d[0].tolist() == pytest.approx([500 * 0.06 * (1 - 0.25), 500 * 0.06 * (0.5 - 0.25), 0.0], rel=1e-5)


def test_auto_convergence_is_smooth_follows_and_restarts_at_cuts():
    t = np.arange(60) / 30.0
    subject = np.where(np.arange(60) < 30, 0.2, 0.8)
    subject[10] = 0.9  # a one-frame blip
    track = convergence_track(subject, t, [0, 40], smoothing_s=0.5)
    assert np.abs(np.diff(track[:40])).max() < 0.1  # no jumps inside a shot
    assert track[0] < 0.3 and track[39] > 0.45  # follows the subject
    assert track[40] == pytest.approx(0.8)  # a cut restarts the filter
    assert track[10] < 0.4


def test_subject_is_the_frame_centre():
    n = np.zeros((8, 8), np.float32)
    n[2:6, 2:6] = 0.7
    assert subject_nearness(n) == pytest.approx(0.7)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"divergence": 0}, "divergence"),
        ({"divergence": 50}, "divergence"),
        ({"convergence": 1.5}, "convergence"),
        ({"ipd": 63}, "metres"),
        ({"screen_width": 1.0}, "together"),
        ({"mode": "metric", "screen_width": 1.0, "viewing_distance": 2.0}, "relative"),
        ({"mode": "nope"}, "unknown disparity mode"),
    ],
)
def test_bad_options(kwargs, msg):
    with pytest.raises(DepthshotError, match=msg):
        DisparityConfig(**kwargs)
