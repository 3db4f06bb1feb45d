import numpy as np
import pytest

from core.metrics import abs_rel, delta1, evaluate_video, fit_alignment


def scene(frames: int = 4, h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    """Ground-truth depth in metres [T, H, W] with 10% holes (0)."""
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0.5, 4.0, size=(frames, h, w))
    gt[rng.random(gt.shape) < 0.1] = 0
    return gt


def pairs_of(pred, gt):
    return lambda: zip(pred, gt)


def test_ground_truth_scores_perfect():
    gt = scene()
    inv = np.where(gt > 0, 1 / np.where(gt > 0, gt, 1), 0)
    s = evaluate_video(pairs_of(inv, gt))
    assert s.abs_rel == pytest.approx(0, abs=1e-12)
    assert s.delta1 == 1.0
    assert s.pixels == int((gt > 0).sum())
    metric = evaluate_video(pairs_of(gt, gt), metric=True)
    assert metric.abs_rel == pytest.approx(0, abs=1e-12) and metric.delta1 == 1.0


def test_affine_inverse_depth_is_recovered_exactly():
    gt = scene()
    inv = np.where(gt > 0, 1 / np.where(gt > 0, gt, 1), 0)
    pred = (3.0 * inv - 0.2).astype(np.float32)  # what a relative model may output
    s = evaluate_video(pairs_of(pred, gt))
    assert s.alignment.scale == pytest.approx(1 / 3, rel=1e-5)
    assert s.alignment.shift == pytest.approx(0.2 / 3, rel=1e-4)
    assert s.abs_rel < 1e-5 and s.delta1 == 1.0


def test_known_perturbation_primitives():
    gt = np.full((4, 10), 2.0)
    d = gt.copy()
    d[0] *= 1.3  # 25% of pixels 30% too far
    mask = np.ones_like(gt, bool)
    assert abs_rel(d, gt, mask) == pytest.approx(0.075)
    assert delta1(d, gt, mask) == pytest.approx(0.75)  # ratio 1.3 >= 1.25 fails on one row of four
    d[0] = gt[0] / 1.2  # 1.2 < 1.25 passes
    assert delta1(d, gt, mask) == 1.0
    assert abs_rel(d, gt, mask) == pytest.approx(0.25 * (1 - 1 / 1.2))


def test_known_perturbation_after_fit_matches_independent_lstsq():
    gt = scene(seed=1)
    inv = np.where(gt > 0, 1 / np.where(gt > 0, gt, 1), 0)
    rng = np.random.default_rng(2)
    pred = inv * (1 + 0.3 * rng.standard_normal(inv.shape)) + 0.05
    s = evaluate_video(pairs_of(pred, gt))
    m = gt > 0
    a = np.stack([pred[m], np.ones(m.sum())], 1)
    (scale, shift), *_ = np.linalg.lstsq(a, inv[m], rcond=None)
    d = np.clip(1 / np.maximum(scale * pred[m] + shift, 1e-12), gt[m].min(), gt[m].max())
    d = np.where(scale * pred[m] + shift > 0, d, gt[m].max())
    ratio = np.maximum(d / gt[m], gt[m] / d)
    assert s.alignment.scale == pytest.approx(scale, rel=1e-9)
    assert s.alignment.shift == pytest.approx(shift, rel=1e-9, abs=1e-12)
    assert s.abs_rel == pytest.approx(np.mean(np.abs(d - gt[m]) / gt[m]), rel=1e-9)
    assert s.delta1 == pytest.approx(np.mean(ratio < 1.25), rel=1e-12)
    assert 0.05 < s.abs_rel < 1 and 0.2 < s.delta1 < 1


def test_no_ground_truth_is_an_error():
    with pytest.raises(ValueError):
        fit_alignment(zip([np.ones((2, 2))], [np.zeros((2, 2))]))
