"""``python -m core.bench accuracy`` on a pass made from the TUM ground truth itself, and on a perturbed one."""

from pathlib import Path

import numpy as np
import pytest

from core.bench.accuracy import TumClip, main, score
from core.depth.depth_pass import DepthPass, DepthPassWriter, PassInfo
from tests.shared_data import TUM as DATA

N = 6


def write_pass(root: Path, clip: TumClip, transform) -> DepthPass:
    w = DepthPassWriter(root, PassInfo(source="", fps=30.0, width=640, height=480, kind="relative_inverse_depth"))
    w.begin_shot(0)
    for i in range(N):
        gt = clip.depth(i)
        inv = np.where(gt > 0, 1 / np.where(gt > 0, gt, 1), 0)  # holes: 0, never scored
        w.write(i, transform(inv).astype(np.float32), i / 30)
    w.end_shot()
    return w.close()


@pytest.fixture(scope="module")
def clip():
    return TumClip(DATA)


def test_ground_truth_scores_perfect(clip, tmp_path, capsys):
    dp = write_pass(tmp_path / "gt", clip, lambda inv: 2.5 * inv + 0.1)  # any affine map of inverse depth
    r = score(dp, clip)
    assert r["frames"] == N
    assert r["abs_rel"] < 1e-4 and r["delta1"] == 1.0  # 16-bit quantisation only
    assert r["scale"] == pytest.approx(0.4, rel=1e-4)
    assert 0 < r["tae"] < 0.05  # real sensor depth is not perfectly consistent between frames
    assert main([str(tmp_path / "gt"), "--data", str(DATA)]) == 0
    assert "AbsRel 0.0000" in capsys.readouterr().out


def test_perturbation_is_seen(clip, tmp_path):
    gt = score(write_pass(tmp_path / "gt", clip, lambda inv: inv), clip)
    rng = np.random.default_rng(0)
    noisy = score(write_pass(tmp_path / "noisy", clip, lambda inv: inv * rng.uniform(0.7, 1.3, inv.shape)), clip)
    assert noisy["abs_rel"] > 0.05 and noisy["delta1"] < 0.95
    assert noisy["tae"] > gt["tae"] + 0.05
