"""End to end: video file -> depth pass, shots, resume after kill -9, CLI errors and progress."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.depth import DepthJob, run_depth
from core.depth.depth_pass import DepthPass
from core.errors import DepthshotError

from tests.helpers import stop_after_frames
from tests.robust import dead_pid

from .videos import scene_frames, write_video

ROOT = Path(__file__).resolve().parents[2]
W, H = 96, 64


def job(src: Path, out: Path, weights: Path, **kw) -> DepthJob:
    kw = {"model": "vda-s", "input_size": 70, "device": "cpu", **kw}
    return DepthJob(input=src, output=out, weights=weights, **kw)


def cli(*args, **popen) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "core.depth", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory):
    d = tmp_path_factory.mktemp("cut")
    a = list(scene_frames(30, W, H, seed=1))
    b = list(scene_frames(28, W, H, seed=2))
    return write_video(d / "cut.mp4", a + b), write_video(d / "second.mp4", b)


def test_hard_cut_gives_two_independent_shots(cut_video, vits_weights, tmp_path):
    src, second = cut_video
    progress = []
    dp = DepthPass.open(run_depth(job(src, tmp_path / "p", vits_weights), on_progress=progress.append))
    assert [(s.start, s.end) for s in dp.info.shots] == [(0, 30), (30, 58)]
    assert dp.info.kind == "relative_inverse_depth" and len(dp) == 58
    assert (dp.info.width, dp.info.height) == (W, H)
    assert dp.info.timestamps == pytest.approx([i / 24 for i in range(58)])
    assert progress[-1].stage == "done" and progress[-1].frames_done == 58
    # the second shot is computed exactly as if it were a video of its own: nothing aligned across the cut
    alone = DepthPass.open(run_depth(job(second, tmp_path / "q", vits_weights)))
    assert len(alone.info.shots) == 1
    shot, ref = dp.info.shots[1], alone.info.shots[0]
    assert (shot.lo, shot.hi) == (ref.lo, ref.hi)
    for i in range(28):
        np.testing.assert_array_equal(dp.read(30 + i), alone.read(i))
    # with shots off the same video is one shot and the second half differs
    one = DepthPass.open(run_depth(job(src, tmp_path / "r", vits_weights, shots=False)))
    assert len(one.info.shots) == 1
    assert not np.allclose(one.read(45), dp.read(45), atol=1e-3)


def test_kill_and_resume_is_byte_identical(vits_weights, tmp_path):
    src = write_video(tmp_path / "long.mp4", scene_frames(80, W, H, seed=3))
    args = [src, "--model", "vda-s", "--weights", vits_weights, "--input-size", "70", "--device", "cpu",
            "--no-shots"]
    ref = cli(*args, "-o", tmp_path / "ref")
    out, err = ref.communicate(timeout=600)
    assert ref.returncode == 0, err
    assert out.strip() == str(tmp_path / "ref")  # the command prints the pass it wrote

    target = tmp_path / "resumed"
    state = target / ".work" / "engine_state.npz"
    # kill once window 1 is done, mid-run
    kill_when(cli(*args, "-o", target), lambda: state.exists() and np.load(state)["stitch_counts"][0] >= 2)
    assert not (target / "depth_pass.json").exists()
    # a kill that lands mid-write leaves the writer's temporary files (hidden, with the dead PID): planted here
    dead = dead_pid()
    planted = [target / ".work" / "raw" / f".000040.partial-{dead}.npy", target / "depth" / f".000002.partial-{dead}.png",
               target / ".work" / f".engine_state.partial-{dead}.npz"]
    for p in planted:
        p.write_bytes(b"cut short")

    assert_resumes_to(tmp_path / "ref", target, args, files=81)


def kill_when(proc: subprocess.Popen, ready) -> None:
    """``kill -9`` the running ``proc`` as soon as ``ready()`` is true (fails when it ended first)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def assert_resumes_to(ref: Path, target: Path, args: list, files: int) -> None:
    """Run ``core.depth ARGS -o TARGET`` again (after a kill): it must finish and leave exactly ``ref``'s ``files``
    files, byte for byte."""
    again = cli(*args, "-o", target)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    names = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())
    assert len(names) == files
    for f in names:
        assert (ref / f).read_bytes() == (target / f).read_bytes(), f


@pytest.mark.parametrize(
    "make_input, extra, message",
    [
        (lambda d: d / "missing.mp4", [], "no such file"),
        (lambda d: (d / "text.mp4").write_text("not a video") and d / "text.mp4", [], "text.mp4: not a video"),
        (lambda d: write_video(d / "ok.mp4", scene_frames(3, W, H, 0)), ["--input-size", "50"], "multiple of 14"),
        (lambda d: write_video(d / "ok.mp4", scene_frames(3, W, H, 0)), ["--model", "vda-xl"], "vda-xl"),
    ],
)
def test_bad_input_exits_cleanly(tmp_path, vits_weights, make_input, extra, message):
    src = make_input(tmp_path)
    out = tmp_path / "out"
    proc = cli(src, "-o", out, "--weights", vits_weights, "--device", "cpu", *extra)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not out.exists()


def test_max_res_and_preview(vits_weights, tmp_path):
    src = write_video(tmp_path / "v.mp4", scene_frames(12, W, H, seed=4))
    out = run_depth(job(src, tmp_path / "p", vits_weights, max_res=48, preview="depth"))
    dp = DepthPass.open(out)
    assert (dp.info.width, dp.info.height) == (48, 32) and len(dp) == 12
    from core.depth.preview import write_preview
    from core.video import probe, read_frames

    info = probe(out / "preview.mp4")
    assert (info.width, info.height) == (48, 32)
    assert sum(1 for _ in read_frames(out / "preview.mp4")) == 12
    sbs = write_preview(dp, tmp_path / "sbs.mp4", side_by_side=True)
    frames = [f.image for f in read_frames(sbs)]
    assert len(frames) == 12 and frames[0].shape == (32, 96, 3)
    # left half is the video, right half the coloured depth
    rgb = next(read_frames(src, size=(48, 32))).image.astype(int)
    assert np.abs(frames[0][:, :48].astype(int) - rgb).mean() < 12
    assert np.abs(frames[0][:, 48:].astype(int) - rgb).mean() > 20


def test_finished_pass_is_reused_and_other_settings_refused(vits_weights, tmp_path):
    """Running a finished job again does no work (only a preview asked for now is added); another job's pass
    in the output folder is an error, not overwritten."""
    src = write_video(tmp_path / "v.mp4", scene_frames(6, W, H, seed=5))
    out = run_depth(job(src, tmp_path / "p", vits_weights, shots=False))
    before = {p.name: p.stat().st_mtime_ns for p in (out / "depth").iterdir()}
    seen = []
    run_depth(job(src, out, Path("/nonexistent.pth"), shots=False, preview="side-by-side"), on_progress=seen.append)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "depth").iterdir()} == before
    assert (out / "preview.mp4").is_file() and seen[-1].stage == "done" and seen[-1].frames_done == 6
    with pytest.raises(DepthshotError, match="other settings \\(input_size\\)"):
        run_depth(job(src, out, vits_weights, shots=False, input_size=56))


def test_metric_model_writes_a_metric_pass_without_alignment(vits_weights, tmp_path):
    """vda-s-metric (the same layout, hence the same synthetic weights) gives metres: no scale/shift fit, and the
    frames of a window the video fits in equal the network output (only clamped at 0 after the first window)."""
    src = write_video(tmp_path / "v.mp4", scene_frames(40, W, H, seed=6))
    metric = DepthPass.open(run_depth(job(src, tmp_path / "m", vits_weights, model="vda-s-metric", shots=False)))
    relative = DepthPass.open(run_depth(job(src, tmp_path / "r", vits_weights, shots=False)))
    assert metric.info.kind == "metric_depth" and relative.info.kind == "relative_inverse_depth"
    assert metric.info.model["id"] == "vda-s-metric"
    # window 0 is never rescaled, so frames 0..9 agree; later frames differ because only the relative run is fitted
    shot_m, shot_r = metric.info.shots[0], relative.info.shots[0]
    step = max(shot_m.hi - shot_m.lo, shot_r.hi - shot_r.lo) / 65535
    assert np.abs(metric.read(5) - relative.read(5)).max() <= step
    assert np.abs(metric.read(35) - relative.read(35)).max() > 100 * step


def test_start_end_window_end_to_end(vits_weights, tmp_path):
    """--start/--end: only the frames in [start, end) get depth, with their own timestamps, and the window is
    recorded; the window's depth is that of the same frames cut into a video of their own (nothing outside leaks)."""
    src = write_video(tmp_path / "v.mp4", scene_frames(48, W, H, seed=6))  # 2 s at 24 fps
    dp = DepthPass.open(run_depth(job(src, tmp_path / "w", vits_weights, shots=False, start=0.5, end=1.25)))
    assert len(dp) == 18  # frames 12 .. 29
    assert dp.info.timestamps == pytest.approx([i / 24 for i in range(12, 30)])
    assert (dp.info.model["start"], dp.info.model["end"]) == (0.5, 1.25)
    cut = write_video(tmp_path / "cut.mp4", list(scene_frames(48, W, H, seed=6))[12:30])
    alone = DepthPass.open(run_depth(job(cut, tmp_path / "c", vits_weights, shots=False)))
    ref = np.stack([alone.read(i) for i in range(18)])
    got = np.stack([dp.read(i) for i in range(18)])
    assert np.abs(got - ref).max() <= 0.02 * (ref.max() - ref.min())  # the two encodes differ by a few grey levels


def _same_files(ref: Path, target: Path) -> None:
    files = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())
    for f in files:
        assert (ref / f).read_bytes() == (target / f).read_bytes(), f


def _interrupt_in_the_second_shot(src: Path, target: Path, weights: Path) -> dict:
    """Run the job on ``src`` until frame 45 (inside the second shot, which starts at 30); its resume state."""
    with pytest.raises(KeyboardInterrupt):
        run_depth(job(src, target, weights), on_progress=stop_after_frames(45))
    assert not (target / "depth_pass.json").exists()
    return json.loads((target / ".work" / "progress.json").read_text())


def test_interrupted_job_with_shots_resumes_to_the_same_files(cut_video, vits_weights, tmp_path):
    """Shot detection on, interrupted inside the second shot, run again: the same files as an uninterrupted run.
    The cuts are found in the decode pass that feeds the engine (no scan first, no shots.json), so the resumed
    run finds them again in the frames it decodes from the first."""
    src, _ = cut_video
    stages = []
    ref = run_depth(job(src, tmp_path / "ref", vits_weights), on_progress=lambda p: stages.append(p.stage))
    assert "scan" not in stages and stages[0] == "depth"
    target = tmp_path / "resumed"
    state = _interrupt_in_the_second_shot(src, target, vits_weights)
    assert [(s["start"], s["end"]) for s in state["shots"]] == [(0, 30)] and state["current_shot_start"] == 30
    assert not (target / ".work" / "shots.json").exists()
    run_depth(job(src, target, vits_weights))
    _same_files(ref, target)


def test_a_pass_scanned_by_an_older_depthshot_keeps_its_scan(cut_video, vits_weights, tmp_path):
    """An unfinished pass whose .work/shots.json was written by a depthshot that scanned first is resumed from that
    scan (a scan stage, no detection in the decode pass) to the same files."""
    from core.video import read_frames

    src, _ = cut_video
    ref = run_depth(job(src, tmp_path / "ref", vits_weights))
    target = tmp_path / "old"
    _interrupt_in_the_second_shot(src, target, vits_weights)
    times = [f.pts for f in read_frames(src)]
    (target / ".work" / "shots.json").write_text(json.dumps({"frame_count": 58, "cuts": [30], "timestamps": times}))
    stages = []
    run_depth(job(src, target, vits_weights), on_progress=lambda p: stages.append(p.stage))
    assert stages[0] == "scan"
    _same_files(ref, target)


def test_a_resumed_job_whose_cuts_moved_is_refused(vits_weights, tmp_path):
    """The input replaced by a clip of the same length whose cut is elsewhere: the shot finished before no longer
    ends at a cut, so resuming would mix two videos' shots: one line, nothing of the old run overwritten."""
    src = tmp_path / "cut.mp4"
    write_video(src, [*scene_frames(30, W, H, seed=1), *scene_frames(28, W, H, seed=2)])
    target = tmp_path / "p"
    _interrupt_in_the_second_shot(src, target, vits_weights)
    before = {p: p.read_bytes() for p in target.rglob("*.png")}
    write_video(src, [*scene_frames(20, W, H, seed=1), *scene_frames(38, W, H, seed=2)])
    moved = r"shots differ from the interrupted run's \(shots at \[0\] then frame 20 now, at \[0\] then frame 30 before"
    with pytest.raises(DepthshotError, match=moved):
        run_depth(job(src, target, vits_weights))
    assert {p: p.read_bytes() for p in target.rglob("*.png")} == before


def test_weights_that_fail_to_load_stop_the_decoding_started_ahead(cut_video, tmp_path):
    """Decoding starts before the weights load (it only reads the input); a load failure is still reported before
    anything is created, and the decode thread is stopped, not left running."""
    import threading

    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DepthshotError, match="weights"):
        run_depth(job(cut_video[0], tmp_path / "p", bad))
    assert not (tmp_path / "p").exists()
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]
