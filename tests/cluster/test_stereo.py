"""core.cluster.stereo on a real local Ray (2 CPUs): segments as Ray tasks give the single-process video (frames,
audio, subtitles) and the same ``--progress jsonl`` records; a run stopped on one process is finished on Ray from its
segments, with progress frame by frame; a ``kill -9``-ed driver run again reuses its segments; several inputs with
a broken one (their depth passes made on Ray first); ``--ray`` without Ray installed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import core.stereo.convert as convert
from core.cli import run_main
from core.depth.depth_pass import DepthPass, DepthPassWriter, PassInfo
from core.stereo.__main__ import main as stereo_main
from core.video import probe, read_frames
from tests.depth.videos import scene_frames, write_video
from tests.robust import ENV
from tests.video import media

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
W, H, N, FPS = 64, 48, 24, 10
ENGINE_ARGS = ["--model", "vda-s", "--input-size", "70", "--device", "cpu"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 24-frame clip with audio and subtitles and a two-shot depth pass whose near band moves across."""
    folder = tmp_path_factory.mktemp("clip")
    src = media.write_video(folder / "in.mp4", frames=N, size=(W, H), fps=FPS, audio="aac", subtitles=True)
    writer = DepthPassWriter(folder / "depth", PassInfo(source="", fps=FPS, width=W, height=H,
                                                        kind="relative_inverse_depth"))
    for start, end in ((0, 10), (10, N)):
        writer.begin_shot(start)
        for i in range(start, end):
            d = np.zeros((H, W), np.float32)
            d[:, 2 * i % W : 2 * i % W + 16] = 1.0
            writer.write(i, d, i / FPS)
        writer.end_shot()
    writer.close()
    return src, folder / "depth"


def _argv(src, depth, out, *extra, segment_s=0.4):
    # 4-frame segments (6 tasks); the temporal fill and auto-convergence are what could differ across segments
    return [str(src), "-o", str(out), "--depth", str(depth), "--encode-preset", "ultrafast", "--segment-seconds",
            str(segment_s), "--fill", "temporal", "--auto-convergence", "--convergence-smoothing", "0.5", "--device",
            "cpu", *map(str, extra)]


def _records(stdout: str) -> list[dict]:
    """The ``--progress jsonl`` records of a run: every stdout line is one JSON object."""
    return [json.loads(line) for line in stdout.splitlines()]


def _check_stereo_records(records: list[dict], src: Path, out: Path) -> list[int]:
    """The frames done of the "stereo" records, checked: well-formed, never going back, ending at ``N`` of ``N``,
    then the written output."""
    assert records[-1] == {"input": str(src), "stage": "written", "output": str(out)}
    stereo = [r for r in records if r["stage"] == "stereo"]
    for r in stereo:
        assert set(r) == {"input", "stage", "frames_done", "frame_count", "fps", "eta_s"} and r["frame_count"] == N
        assert r["input"] == str(src) and r["fps"] >= 0 and (r["eta_s"] is None or r["eta_s"] >= 0)
    done = [r["frames_done"] for r in stereo]
    assert done == sorted(done) and done[-1] == N and stereo[-1]["eta_s"] == 0
    stages = [r["stage"] for r in records[:-1]]
    assert stages == sorted(stages, key=["auto-convergence", "stereo"].index)
    return done


def _assert_same_video(a: Path, b: Path) -> None:
    fa, fb = list(read_frames(a)), list(read_frames(b))
    assert len(fa) == len(fb) == N
    for x, y in zip(fa, fb):
        assert x.pts == y.pts and np.array_equal(x.image, y.image)
    ia, ib = probe(a), probe(b)
    assert (ia.audio_streams, ia.subtitle_streams) == (ib.audio_streams, ib.subtitle_streams) == (1, 1)
    assert media.stream_span(a, "audio") == media.stream_span(b, "audio")
    assert media.subtitle_texts(a) == media.subtitle_texts(b)


def test_segments_as_ray_tasks_give_the_single_process_video(local_ray, clip, tmp_path, capsys):
    src, depth = clip
    ref, out = tmp_path / "one.mp4", tmp_path / "ray.mp4"
    assert run_main(stereo_main, _argv(src, depth, ref, "--progress", "jsonl")) == 0
    _check_stereo_records(_records(capsys.readouterr().out), src, ref)
    assert run_main(stereo_main, [*_argv(src, depth, out, "--progress", "jsonl"), "--ray"]) == 0
    _check_stereo_records(_records(capsys.readouterr().out), src, out)  # the same records as the single process
    _assert_same_video(out, ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mp4", "ray.mp4"]  # no work folder, no lock left


def test_a_run_stopped_on_one_process_is_finished_on_ray_from_its_segments(local_ray, clip, tmp_path, monkeypatch):
    from core.cluster import RayOptions
    from core.cluster.stereo import run_stereo_ray
    from core.stereo.__main__ import build_parser, job_from_args

    src, depth = clip
    ref, out = tmp_path / "one.mp4", tmp_path / "out.mp4"
    assert run_main(stereo_main, _argv(src, depth, ref)) == 0
    render, calls = convert._Synthesizer.render, {"n": 0}

    def render_then_stop(self, *args):  # Ctrl-C in the single-process run after 9 frames
        calls["n"] += 1
        if calls["n"] > 9:
            raise KeyboardInterrupt
        return render(self, *args)

    with monkeypatch.context() as m:
        m.setattr(convert._Synthesizer, "render", render_then_stop)
        with pytest.raises(KeyboardInterrupt):
            stereo_main(_argv(src, depth, out))
    segments = json.loads((tmp_path / ".out.mp4.work" / "job.json").read_text())["segments"]
    kept = sum(s["frames"] for s in segments)
    assert 4 <= kept <= 8
    progress = []
    job = job_from_args(build_parser().parse_args(_argv(src, depth, out)))
    assert run_stereo_ray(job, RayOptions(), lambda *p: progress.append(p)) == out
    stereo = [p for p in progress if p[0] == "stereo"]
    assert stereo[0] == ("stereo", kept, N)  # the segments on disk were kept
    assert [p[1] for p in stereo] == list(range(kept, N + 1))  # frame by frame from the tasks, up to all
    _assert_same_video(out, ref)


@pytest.mark.slow
def test_the_driver_killed_mid_run_then_the_same_command_reuses_its_segments(local_ray, clip, tmp_path):
    """``kill -9`` of a ``--ray`` driver once segments are on disk; the same command again reuses them and gives the
    single-process video, with nothing half-written left beside it."""
    src, depth = clip
    ref, folder = tmp_path / "one.mp4", tmp_path / "out"
    out = folder / "out.mp4"
    assert run_main(stereo_main, _argv(src, depth, ref, segment_s=0.2)) == 0  # 2-frame segments: 12 tasks
    address = local_ray.get_runtime_context().gcs_address  # the command joins the test's instance as a cluster
    argv = [sys.executable, "-m", "core.stereo", *_argv(src, depth, out, "--ray", address, "--progress", "jsonl",
                                                        segment_s=0.2)]
    env = {**ENV, **{k: v for k, v in os.environ.items() if k.startswith("RAY_AUTH")}}  # the instance's token mode
    state = folder / ".out.mp4.work" / "job.json"

    def listed() -> int:
        try:
            return len(json.loads(state.read_text())["segments"])
        except (OSError, ValueError, KeyError):
            return 0

    with open(tmp_path / "killed.log", "w") as log:
        driver = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 240
        while not listed() and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        driver.kill()
        driver.wait()
    killed = (tmp_path / "killed.log").read_text()[-3000:]
    assert driver.returncode == -signal.SIGKILL and not out.exists(), killed  # killed before the join
    kept = listed()
    assert 1 <= kept < 12, killed

    rerun = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{out}: {kept} of 12 segments ({2 * kept} frames) finished by an earlier run: reused" in rerun.stderr
    done = _check_stereo_records(_records(rerun.stdout), src, out)
    assert done[0] == 2 * kept  # the kept frames were not rendered again
    _assert_same_video(out, ref)
    assert sorted(p.name for p in folder.rglob("*")) == ["out.mp4"]  # no segment, work folder, lock, partial left


def test_many_inputs_one_broken_the_others_finish(local_ray, vits_weights, tmp_path, capsys):
    a = write_video(tmp_path / "a.mp4", scene_frames(8, 96, 64, seed=4), fps=10)
    b = write_video(tmp_path / "b.mp4", scene_frames(6, 96, 64, seed=5), fps=10)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    out = tmp_path / "out"
    status = stereo_main([str(a), str(broken), str(b), "-o", str(out), "--weights", str(vits_weights), *ENGINE_ARGS,
                          "--encode-preset", "ultrafast", "--segment-seconds", "0.3", "--ray"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert [line for line in err if line.startswith("error: ")] == [e for e in err if str(broken) in e][:1]
    assert any(line.endswith("1 of 3 inputs failed") for line in err)  # after the bar's last draw
    for name, n in (("a", 8), ("b", 6)):  # each input's depth pass made first (on Ray), beside its video
        assert len(DepthPass.open(out / f"{name}_depth")) == n
        assert len(list(read_frames(out / f"{name}_3D_LRF_Full_SBS.mp4"))) == n
    assert sorted(p.name for p in out.iterdir()) == ["a_3D_LRF_Full_SBS.mp4", "a_depth", "b_3D_LRF_Full_SBS.mp4",
                                                     "b_depth"]


def test_ray_switch_without_ray_installed_is_one_line(tmp_path, clip):
    src, depth = clip
    out = tmp_path / "out.mp4"
    code = ("import sys, runpy; sys.modules['ray'] = None; sys.argv = ['core.stereo', *sys.argv[1:]]; "
            "runpy.run_module('core.stereo', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code, *_argv(src, depth, out), "--ray"], cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --ray needs Ray, which is not installed: "
                                                "pip install 'depthshot[ray]'"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []
