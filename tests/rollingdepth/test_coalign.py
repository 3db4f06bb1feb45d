"""Co-alignment against the reference DepthAligner outputs in coalign.npz (tolerances from its README)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.depth.rollingdepth.coalign import (
    Alignment,
    CoalignConfig,
    fit_alignment,
    merge_frames,
    normalize_clip,
    sample_grid,
    sample_pixels,
)


def _inputs(z):
    dil = [int(d) for d in z["dilations"]]
    snippets = [torch.from_numpy(z[f"snippets_d{d}"]) for d in dil]
    indices = [z[f"indices_d{d}"] for d in dil]
    return dil, snippets, indices


def _fit(z, iterations: int) -> Alignment:
    dil, snippets, indices = _inputs(z)
    rows, cols = sample_grid(32, 48, border=2, factor=10)
    samples = [sample_pixels(s, rows, cols) for s in snippets]
    offset = min(float(s.min()) for s in snippets)
    return fit_alignment(samples, indices, 40, offset, CoalignConfig(iterations=iterations))


def test_sample_grid_is_the_reference_grid():
    rows, cols = sample_grid(32, 48, border=2, factor=10)
    assert rows.tolist() == [2, 12, 22] and cols.tolist() == [2, 12, 22, 32, 42]
    assert sample_grid(432, 768, 2, 10)[0].size * sample_grid(432, 768, 2, 10)[1].size == 3311


def test_merge_with_reference_parameters_is_exact(coalign_fixture):
    z = coalign_fixture
    dil, snippets, indices = _inputs(z)
    offset = min(float(s.min()) for s in snippets)
    assert offset == pytest.approx(float(z["global_min"]), abs=0)
    ref = Alignment(
        [torch.from_numpy(z[f"ref_scale_d{d}"]) for d in dil],
        [torch.from_numpy(z[f"ref_shift_d{d}"]) for d in dil],
        offset,
        z["ref_loss_history"],
    )
    merged = merge_frames(snippets, indices, 40, ref)
    np.testing.assert_allclose(merged.numpy(), z["ref_aligned"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(normalize_clip(merged).numpy(), z["ref_aligned_normalized"], atol=1e-5, rtol=0)


def test_objective_matches_reference_for_the_first_steps(coalign_fixture):
    history = _fit(coalign_fixture, iterations=10).loss_history
    assert history[0] == pytest.approx(0.15499830, rel=1e-5)
    np.testing.assert_allclose(history, coalign_fixture["ref_loss_history"][:10], rtol=1e-5)


@pytest.mark.slow
def test_full_coalignment_matches_reference(coalign_fixture):
    z = coalign_fixture
    dil, snippets, indices = _inputs(z)
    alignment = _fit(z, iterations=2000)
    for g, d in enumerate(dil):
        np.testing.assert_allclose(alignment.scales[g].numpy(), z[f"ref_scale_d{d}"], rtol=0.05)
        np.testing.assert_allclose(alignment.shifts[g].numpy(), z[f"ref_shift_d{d}"], atol=4e-3)
    merged = merge_frames(snippets, indices, 40, alignment).numpy()
    ref = z["ref_aligned"]
    assert np.abs(merged - ref).max() <= 0.03 * (ref.max() - ref.min())
    np.testing.assert_allclose(normalize_clip(torch.from_numpy(merged)).numpy(), z["ref_aligned_normalized"], atol=5e-3)
    assert alignment.loss_history[-1] == pytest.approx(z["ref_loss_history"][-1], rel=5e-3)
    # implementation-independent: the merge is an affine function of the truth (reference: 1.4 % residual)
    truth = z["true_depth"].ravel()
    design = np.stack([truth, np.ones_like(truth)], 1)
    coef, *_ = np.linalg.lstsq(design, merged.ravel(), rcond=None)
    residual = np.abs(design @ coef - merged.ravel()).mean() / np.abs(merged).mean()
    assert residual < 0.02


def test_unaligned_average_is_much_worse_than_aligned(coalign_fixture):
    """The objective must actually drop: 200 steps already lower it well below the start."""
    history = _fit(coalign_fixture, iterations=200).loss_history
    assert history[-1] < 0.8 * history[0]
    assert np.all(np.isfinite(history))


def test_rejects_mixed_snippet_lengths():
    samples = [torch.ones(2, 3, 4), torch.ones(2, 2, 4)]
    indices = [np.array([[0, 1, 2], [1, 2, 3]]), np.array([[0, 1], [1, 2]])]
    with pytest.raises(ValueError, match="same snippet length"):
        fit_alignment(samples, indices, 4, 0.0, CoalignConfig(iterations=1))
