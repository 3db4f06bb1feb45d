"""The modal path of Estimate Depth, tick by tick (background Blender has no event loop), with real worker processes.

A fake worker (a small Python script standing in for ``python -m core.worker``) is used only where the worker has
to misbehave: hang, or ignore SIGTERM.
"""

import os
import stat
import sys
import time

import bpy
import pytest

from .conftest import N, prefs


def fake_worker(tmp_path, body: str):
    """An executable standing in for the worker interpreter: prints ``body``'s protocol lines, then behaves."""
    path = tmp_path / "python"
    path.write_text(f"#!{sys.executable}\nimport json, signal, sys, time\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def tick_until(run, condition, timeout_s=60.0):
    """Tick like the modal timer until ``condition()``; returns the last outcome."""
    deadline = time.monotonic() + timeout_s
    while True:
        outcome = run.tick()
        if condition(outcome) or time.monotonic() > deadline:
            return outcome
        time.sleep(0.02)


PROGRESS = {"type": "progress", "frames_done": 2, "frame_count": 4, "fps": 3.0, "eta_s": 0.7, "stage": "depth"}


def test_progress_reaches_settings_and_cancel_kills_a_hanging_worker(movie, tmp_path, addon):
    prefs().python_path = str(fake_worker(tmp_path, (
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"print(json.dumps({{'type': 'start', 'protocol': 1}}), flush=True)\n"
        f"print(json.dumps({PROGRESS!r}), flush=True)\n"
        "time.sleep(600)"
    )))
    settings = movie.id_data.depthshot
    run = addon.operators.start_depth_run(bpy.context)
    run.worker.grace_s = 0.5
    outcome = tick_until(run, lambda _: settings.progress > 0, timeout_s=20)
    assert outcome.status == "running"
    assert settings.progress == pytest.approx(50.0)
    assert settings.status == "depth 2/4, 3.0 fps, 1 s left"
    assert settings.running and alive(run.worker.pid)
    assert not bpy.ops.depthshot.estimate_depth.poll()  # one job at a time

    assert bpy.ops.depthshot.cancel() == {"FINISHED"}  # the panel's Cancel button
    outcome = run.tick()
    assert outcome.status == "cancelled" and "resumes" in outcome.message
    assert not alive(run.worker.pid)  # SIGTERM was ignored: killed, and reaped
    assert not settings.running and settings.status.startswith("cancelled")
    # Blender stays usable: no depth strip, the job can start again, data can change
    assert [s.type for s in movie.id_data.sequence_editor.strips] == ["MOVIE"]
    assert bpy.ops.depthshot.estimate_depth.poll() and not bpy.ops.depthshot.cancel.poll()
    movie.frame_offset_start = 1
    assert movie.frame_final_start == 2


def test_worker_that_dies_mid_job_fails_the_tick_with_its_last_error_line(movie, tmp_path, addon):
    prefs().python_path = str(fake_worker(tmp_path, (
        f"print(json.dumps({PROGRESS!r}), flush=True)\n"
        "print('CUDA out of memory (simulated)', file=sys.stderr)\n"
        "sys.exit(3)"
    )))
    run = addon.operators.start_depth_run(bpy.context)
    outcome = tick_until(run, lambda o: o.status != "running", timeout_s=20)
    assert outcome.status == "failed"
    assert outcome.message == "depth failed: the worker exited with status 3: CUDA out of memory (simulated)"
    settings = movie.id_data.depthshot
    assert not settings.running and settings.status.startswith("failed: the worker exited")
    assert not alive(run.worker.pid)


@pytest.mark.slow
def test_real_worker_escape_then_resume_by_ticks(movie, vits_weights, monkeypatch, addon):
    settings = movie.id_data.depthshot
    settings.model, settings.weights, settings.input_size, settings.precision = "vda-s", str(vits_weights), 56, "fp32"
    settings.shots = False
    prefs().python_path = sys.executable
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    run = addon.operators.start_depth_run(bpy.context)
    assert tick_until(run, lambda _: settings.status.startswith("started")).status == "running"
    pid = run.worker.pid
    outcome = run.tick(cancel=True)  # Esc
    assert outcome.status == "cancelled" and not alive(pid)
    assert not settings.running and len(movie.id_data.sequence_editor.strips) == 1

    run = addon.operators.start_depth_run(bpy.context)  # the same job again
    seen = []
    outcome = tick_until(run, lambda o: seen.append(settings.progress) or o.status != "running")
    assert outcome.status == "finished", outcome.message
    assert seen == sorted(seen) and seen[-1] == 100.0
    assert not alive(run.worker.pid) and not settings.running and settings.status == f"done: {N} frames"
    depth = [s for s in movie.id_data.sequence_editor.strips if s.type == "IMAGE"]
    assert len(depth) == 1 and depth[0].frame_final_duration == N and depth[0].channel == movie.channel + 1
    assert (bpy.path.abspath(depth[0].directory) + depth[0].elements[0].filename).endswith("000000.png")
    assert movie["depthshot_pass"] == str(run.worker.state.pass_path)
