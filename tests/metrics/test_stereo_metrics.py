import numpy as np
import pytest

from core.metrics.stereo import depth_edges, psnr, region_masks, score_view, ssim_map, trmse


def _img(seed: int, shape=(24, 32, 3)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_psnr_of_a_known_error_and_uint8_input():
    a = np.full((4, 4, 3), 0.5, np.float32)
    assert psnr(a + 0.1, a) == pytest.approx(20.0, abs=1e-4)  # mse 0.01
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    b = a.copy()
    b[1:] = 0.0
    assert psnr(b, a, mask) > 100  # only the untouched pixel counts
    assert psnr((a * 255).astype(np.uint8), (a * 255).astype(np.uint8)) > 100


def test_ssim_is_one_for_equal_images_and_drops_with_noise():
    a = _img(0)
    assert np.allclose(ssim_map(a, a), 1.0)
    noisy = np.clip(a + np.random.default_rng(1).normal(0, 0.2, a.shape), 0, 1)
    assert ssim_map(noisy, a).mean() < 0.9


def test_regions_split_covisible_disoccluded_and_edges():
    cov = np.ones((10, 20), bool)
    cov[:, 8:11] = False
    disp = np.zeros((10, 20), np.float32)
    disp[:, 11:] = 5.0
    masks = region_masks(cov, disp)
    assert masks["all"].all() and (masks["covisible"] == cov).all() and (masks["disoccluded"] == ~cov).all()
    assert masks["edges"][:, 11:13].all() and not masks["edges"][:, :8].any()  # beside the jump, co-visible only
    assert depth_edges(disp, radius=0)[:, 10:12].all() and not depth_edges(disp, radius=0)[:, :10].any()


def test_score_view_per_region():
    truth = _img(2)
    pred = truth.copy()
    cov = np.ones(truth.shape[:2], bool)
    cov[:, :5] = False
    pred[:, :5] = 0.0  # wrong only where disoccluded
    s = score_view(pred, truth, cov, np.zeros(cov.shape, np.float32))
    assert s["covisible"].psnr > 100 and s["disoccluded"].psnr < 10 and s["all"].psnr < s["covisible"].psnr
    assert np.isnan(s["edges"].psnr)  # no depth edge in a flat disparity


def test_trmse_counts_only_change_the_truth_does_not_have():
    truth = [_img(k) for k in range(4)]
    assert trmse((g + 0.05, g) for g in truth) == pytest.approx(0.0, abs=1e-4)  # a constant offset does not flicker
    still = trmse((truth[0], g) for g in truth)  # a frozen prediction misses all of the truth's change
    assert still == pytest.approx(np.sqrt(np.mean([((truth[k] - truth[k - 1]) * 255.0) ** 2 for k in range(1, 4)])))
    assert np.isnan(trmse([(truth[0], truth[0])]))
