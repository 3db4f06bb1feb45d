"""The benchmarks find the shared data from the command line, an environment variable or ``../shared`` beside the
current directory, never relative to the installed package; a folder without fixtures is one ``error:`` line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.bench import _fixtures
from tests.shared_data import TUM, VDA_FIXTURES


def test_defaults_come_from_the_environment_or_the_current_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(_fixtures.FIXTURES_ENV, raising=False)
    monkeypatch.delenv(_fixtures.TUM_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert _fixtures.default_fixtures().resolve() == (tmp_path.parent / "shared" / "fixtures" / "vda").resolve()
    assert _fixtures.default_tum().resolve() == (tmp_path.parent / "shared" / "data" / "tum_fr1_xyz").resolve()
    monkeypatch.setenv(_fixtures.FIXTURES_ENV, str(VDA_FIXTURES))
    monkeypatch.setenv(_fixtures.TUM_ENV, str(TUM))
    assert _fixtures.default_fixtures() == VDA_FIXTURES and _fixtures.default_tum() == TUM
    assert _fixtures.fixtures_dir() == VDA_FIXTURES


def test_synthetic_weights_are_the_fixtures_generator_output(tmp_path, make_weights):
    import torch

    path = _fixtures.synthetic_weights(tmp_path, "vits", VDA_FIXTURES)
    got = torch.load(path, weights_only=True)
    want = make_weights.make_state_dict(str(VDA_FIXTURES / "layout_vits.json"))
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)


@pytest.mark.parametrize("bench", ["engine", "stream", "gpu", "cluster"])
def test_a_folder_without_fixtures_is_one_error_line(bench, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.pop(_fixtures.FIXTURES_ENV, None)
    argv = [sys.executable, "-m", "core.bench", bench, "--fixtures", str(tmp_path)]
    argv += {"gpu": ["--out", str(tmp_path / "r.json"), "--device", "cpu"], "cluster": ["--shots", "2"]}.get(
        bench, ["--frames", "4", "4"])
    res = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 2, res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last == f"error: no VDA fixtures in {tmp_path} (make_weights.py missing): pass --fixtures DIR or set " \
                   f"{_fixtures.FIXTURES_ENV}"
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "r.json").exists()
