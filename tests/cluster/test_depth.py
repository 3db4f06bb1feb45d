"""core.cluster.depth on a real local Ray (2 CPUs): shots as Ray tasks give the single-process pass byte for byte;
several inputs with a broken one; ``--ray`` without Ray installed."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.cluster import RayOptions
from core.depth import run_depth
from core.depth.__main__ import main as depth_main
from core.depth.depth_pass import DepthPass

from core.bench.soak import tree_digest
from tests.cluster.conftest import ENGINE_ARGS, H, W, job
from tests.depth.videos import scene_frames, write_video

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
@pytest.fixture(scope="module")
def three_shots(tmp_path_factory) -> Path:
    """A clip of three shots (two hard cuts), 16 frames each (detection keeps shots of 15 frames or more)."""
    frames = [*scene_frames(16, W, H, seed=1), *scene_frames(16, W, H, seed=2), *scene_frames(16, W, H, seed=3)]
    return write_video(tmp_path_factory.mktemp("clips") / "three.mp4", frames)


def test_three_shots_as_ray_tasks_give_the_single_process_pass(local_ray, three_shots, vits_weights, tmp_path):
    from core.cluster.depth import run_depth_ray

    local = []  # one process: the cuts are found in the decode pass; on Ray: by a scan first (tasks need bounds)
    ref = run_depth(job(three_shots, tmp_path / "one", vits_weights), on_progress=local.append)
    assert [(s.start, s.end) for s in DepthPass.open(ref).info.shots] == [(0, 16), (16, 32), (32, 48)]
    progress = []
    out = run_depth_ray(job(three_shots, tmp_path / "ray", vits_weights), RayOptions(),
                        on_progress=progress.append)
    assert local[0].stage == "depth" and progress[0].stage == "scan"
    want, got = tree_digest(ref), tree_digest(out)
    assert len(want) == 48 + 1  # the PNGs and the manifest, no staging left
    assert got == want
    assert progress[-1].stage == "done" and progress[-1].frames_done == 48


def test_a_long_shot_split_into_chunks_stays_within_the_documented_deviation(local_ray, vits_weights, tmp_path):
    """60 frames of one shot as two chunks of 38 frames sharing 16 (chunk_frames=40): the chunks are aligned and
    cross-faded into one shot. With the fixtures' synthetic weights the deviation from the sequential pass was
    max 10.5 % / mean 0.40 % of its range (README); frames before the second chunk are the same frames."""
    from core.cluster.depth import run_depth_ray

    src = write_video(tmp_path / "long.mp4", scene_frames(60, W, H, seed=3))
    ref = DepthPass.open(run_depth(job(src, tmp_path / "one", vits_weights)))
    got = DepthPass.open(run_depth_ray(job(src, tmp_path / "ray", vits_weights), RayOptions(chunk_frames=40)))
    assert [(s.start, s.end) for s in got.info.shots] == [(0, 60)] == [(s.start, s.end) for s in ref.info.shots]
    a, b = (np.stack([p.read(i) for i in range(60)]) for p in (ref, got))
    span = float(a.max() - a.min())
    step = max(s.hi - s.lo for s in (ref.info.shots[0], got.info.shots[0])) / 65535
    assert np.abs(a[:22] - b[:22]).max() <= step  # the first chunk's first window is the sequential one
    deviation = np.abs(a - b)
    assert deviation.max() > step  # the second chunk was really computed on its own
    assert deviation.max() <= 0.12 * span and deviation.mean() <= 0.005 * span


def test_many_inputs_one_broken_the_others_finish(local_ray, three_shots, vits_weights, tmp_path, capsys):
    clip = write_video(tmp_path / "short.mp4", scene_frames(8, W, H, seed=4))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    out = tmp_path / "out"
    status = depth_main([str(clip), str(broken), str(three_shots), "-o", str(out), "--weights", str(vits_weights),
                         *ENGINE_ARGS, "--ray", "--progress", "jsonl"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert [line for line in err if line.startswith("error: ")] == [e for e in err if str(broken) in e][:1]
    assert "1 of 3 inputs failed" in err[-1]
    assert len(DepthPass.open(out / "short")) == 8 and len(DepthPass.open(out / "three")) == 48
    assert not (out / "broken").exists()


def test_ray_switch_without_ray_installed_is_one_line(tmp_path, three_shots):
    out = tmp_path / "out"
    code = ("import sys, runpy; sys.modules['ray'] = None; sys.argv = ['core.depth', *sys.argv[1:]]; "
            "runpy.run_module('core.depth', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code, str(three_shots), "-o", str(out), *ENGINE_ARGS, "--ray"],
                          cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --ray needs Ray, which is not installed: "
                                                "pip install 'depthshot[ray]'"]
    assert not out.exists()
