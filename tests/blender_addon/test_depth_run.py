"""The modal path of Estimate Depth, tick by tick (background Blender has no event loop), with real worker processes.

``DepthRun.tick`` is what the operator's modal timer calls; these tests call it the same way. A fake worker (a small
Python script standing in for ``python -P -m core.worker``) is used only where the worker has to misbehave: hang,
ignore its cancel request, die, or speak another protocol version.
"""

import json
import re
import os
import stat
import sys
import time

import bpy
import pytest

from .conftest import WORKER_PYTHON, N, prefs

REAL_WORKER_DEADLINE_S = 600  # a few seconds when quiet; generous for a 2-core machine shared by 8 test runs


def fake_worker(tmp_path, body: str):
    """An executable standing in for the worker interpreter: runs ``body`` (json, signal, sys, time imported)."""
    path = tmp_path / "python"
    path.write_text(f"#!{sys.executable}\nimport json, os, signal, sys, time\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def tick_until(run, condition, timeout_s=60.0, cancel=False):
    """Tick like the modal timer until ``condition(outcome)``; returns the last outcome."""
    deadline = time.monotonic() + timeout_s
    while True:
        outcome = run.tick(cancel=cancel)
        if condition(outcome) or time.monotonic() > deadline:
            return outcome
        time.sleep(0.05)


def lines(addon, *messages) -> str:
    """Python statements printing the protocol lines of ``messages`` ((type, fields) pairs)."""
    encode = addon.worker_protocol.encode
    return "".join(f"sys.stdout.write({encode(kind, **fields)!r}); sys.stdout.flush()\n" for kind, fields in messages)


def start(addon):
    return ("start", {"protocol": addon.worker_protocol.PROTOCOL_VERSION, "pid": 1})


PROGRESS = ("progress", {"stage": "depth", "frames_done": 2, "frame_count": 4, "fps": 3.0, "eta_s": 0.7})


def board(addon, scene):
    return addon.run_state.RUNS.get(scene.session_uid)


def real_settings(movie, vits_weights):
    """The panel's defaults (shot detection on, auto precision, vda-s) with the fixtures' weights and a small input size."""
    settings = movie.id_data.depthshot
    for name in ("model", "precision", "shots", "input_size"):
        settings.property_unset(name)
    assert settings.shots and settings.model == "vda-s" and settings.precision == "auto"
    settings.weights, settings.input_size = str(vits_weights), 28
    prefs().python_path = WORKER_PYTHON
    return settings


def test_progress_with_null_fields_then_cancel_kills_a_worker_that_ignores_it(movie, tmp_path, addon):
    scan = ("progress", {"stage": "scan", "frames_done": 0, "frame_count": None, "fps": None, "eta_s": None})
    prefs().python_path = str(fake_worker(tmp_path, (
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        + lines(addon, start(addon), scan)
        + "time.sleep(1)\n"
        + lines(addon, PROGRESS)
        + "time.sleep(600)"
    )))
    run = addon.operators.start_depth_run(bpy.context)
    run.worker.grace_s = 0.5
    status = board(addon, movie.id_data)
    outcome = tick_until(run, lambda _: status.text == "finding shots", timeout_s=20)
    assert outcome.status == "running" and status.progress == 0.0  # null ETA / frame count: no crash
    outcome = tick_until(run, lambda _: status.progress > 0, timeout_s=20)
    assert outcome.status == "running"
    assert status.progress == pytest.approx(50.0)
    assert status.text == "depth 2/4, 3.0 fps, 1 s left"
    assert status.running and alive(run.worker.pid)
    assert not bpy.ops.depthshot.estimate_depth.poll()  # one job at a time

    assert bpy.ops.depthshot.cancel() == {"FINISHED"}  # the panel's Cancel button
    t0 = time.monotonic()
    outcome = run.tick()
    assert outcome.status == "running" and status.text == "stopping…"
    assert time.monotonic() - t0 < 0.2  # the tick does not wait for the worker: the UI stays responsive
    outcome = tick_until(run, lambda o: o.status != "running", timeout_s=20)
    assert outcome.status == "cancelled" and "resumes" in outcome.message
    assert not alive(run.worker.pid)  # it ignored the request: killed after the grace, and reaped
    assert not status.running and status.text.startswith("cancelled")
    # Blender stays usable: no depth strip, the job can start again, data can change
    assert [s.type for s in movie.id_data.sequence_editor.strips] == ["MOVIE"]
    assert bpy.ops.depthshot.estimate_depth.poll() and not bpy.ops.depthshot.cancel.poll()
    movie.frame_offset_start = 1
    assert movie.frame_final_start == 2


def test_worker_that_dies_mid_job_fails_the_tick_with_its_last_error_line(movie, tmp_path, addon):
    prefs().python_path = str(fake_worker(tmp_path, (
        lines(addon, start(addon), PROGRESS)
        + "print('CUDA out of memory (simulated)', file=sys.stderr)\n"
        "sys.exit(3)"
    )))
    run = addon.operators.start_depth_run(bpy.context)
    outcome = tick_until(run, lambda o: o.status != "running", timeout_s=20)
    assert outcome.status == "failed"
    assert outcome.message == "depth failed: the worker exited with status 3: CUDA out of memory (simulated)"
    status = board(addon, movie.id_data)
    assert not status.running and status.text.startswith("failed: the worker exited")
    assert not alive(run.worker.pid)


def test_a_worker_of_another_protocol_version_is_refused_and_stopped(movie, tmp_path, addon):
    old = {"type": "start", "protocol": 1, "pid": 1}
    prefs().python_path = str(fake_worker(tmp_path, f"print(json.dumps({old!r}), flush=True)\ntime.sleep(600)"))
    run = addon.operators.start_depth_run(bpy.context)
    run.worker.grace_s = 0.5
    outcome = tick_until(run, lambda o: o.status != "running", timeout_s=20)
    assert outcome.status == "failed"
    assert "protocol 1" in outcome.message and "matches the add-on" in outcome.message
    assert not alive(run.worker.pid) and not board(addon, movie.id_data).running


def test_an_exception_inside_a_tick_ends_the_run_cleanly(movie, tmp_path, addon, monkeypatch):
    prefs().python_path = str(fake_worker(tmp_path, lines(addon, start(addon)) + "time.sleep(600)"))
    run = addon.operators.start_depth_run(bpy.context)

    def broken(*_args):
        raise RuntimeError("redraw failed (simulated)")

    monkeypatch.setattr(addon.depth_run, "_redraw_sequencers", broken)
    outcome = run.tick()
    assert outcome.status == "failed" and "redraw failed (simulated)" in outcome.message
    run.worker.wait(10)
    assert not alive(run.worker.pid)
    assert not board(addon, movie.id_data).running and bpy.ops.depthshot.estimate_depth.poll()


def test_worker_runs_offline_from_a_fixed_folder_without_the_current_directory_on_its_path(movie, tmp_path, addon):
    report = (
        "print(json.dumps({'type': 'error', 'kind': 'input', 'message': json.dumps("
        "{'offline': os.environ.get('HF_HUB_OFFLINE'), 'cwd': os.getcwd(), 'argv': sys.argv[1:]})}), flush=True)"
    )
    prefs().python_path = str(fake_worker(tmp_path, report))
    system = bpy.context.preferences.system
    seen = {}
    try:
        for online in (False, True):
            system.use_online_access = online
            assert bpy.app.online_access == online
            env = dict(os.environ)
            os.environ.pop("HF_HUB_OFFLINE", None)
            try:
                run = addon.operators.start_depth_run(bpy.context)
            finally:
                os.environ.clear()
                os.environ.update(env)
            outcome = tick_until(run, lambda o: o.status != "running", timeout_s=20)
            seen[online] = json.loads(outcome.message.removeprefix("depth failed: "))
    finally:
        system.use_online_access = False
    assert seen[False]["offline"] == "1" and seen[True]["offline"] is None
    assert seen[False]["argv"] == ["-P", "-m", "core.worker"]
    assert seen[False]["cwd"] == bpy.utils.extension_path_user(addon.__name__).rstrip("/")
    assert seen[False]["cwd"] != os.getcwd()


def test_checks_before_starting_report_one_line_and_start_nothing(movie, tmp_path, addon):
    settings = movie.id_data.depthshot
    prefs().python_path = WORKER_PYTHON
    cases = [
        (lambda: setattr(settings, "input_size", 500), "Input Size must be a multiple of 14 (e.g. 504), got 500"),
        (lambda: setattr(settings, "weights", str(tmp_path / "nope.pth")), "the weights file is missing"),
        (lambda: setattr(movie, "filepath", str(tmp_path / "moved.mp4")), "the strip's video is missing"),
    ]
    for change, reason in cases:
        snapshot = (settings.input_size, settings.weights, movie.filepath)
        change()
        with pytest.raises(RuntimeError, match=re.escape(reason)) as info:
            bpy.ops.depthshot.estimate_depth(synchronous=True)
        assert "\n" not in str(info.value).strip()
        assert not board(addon, movie.id_data).running
        settings.input_size, settings.weights, movie.filepath = snapshot
    assert not (tmp_path / "depthshot").exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "clip.mp4"]  # nothing was created anywhere next to the input


@pytest.mark.slow
def test_real_worker_with_default_settings_runs_through_the_ticks_then_reuses_its_pass(movie, vits_weights, addon):
    settings = real_settings(movie, vits_weights)
    status = board(addon, movie.id_data)
    run = addon.operators.start_depth_run(bpy.context)
    texts, seen = [], []

    def record(outcome):
        texts.append(status.text)
        seen.append(status.progress)
        return outcome.status != "running"

    outcome = tick_until(run, record, timeout_s=REAL_WORKER_DEADLINE_S)
    assert outcome.status == "finished", (outcome.message, run.worker.state.stderr_tail)
    stages = [t.split(" ")[0] for t in texts]  # each stage is shown (the cuts are found while decoding: no scan)
    assert "loading" in stages and "depth" in stages and stages.index("loading") < stages.index("depth")
    assert seen == sorted(seen) and seen[-1] == 100.0
    assert not alive(run.worker.pid) and not status.running and status.text == f"done: {N} frames"
    depth = [s for s in movie.id_data.sequence_editor.strips if s.type == "IMAGE"]
    assert len(depth) == 1 and depth[0].frame_final_duration == N and depth[0].channel == movie.channel + 1
    assert depth[0].mute  # the edit still shows the footage
    assert (bpy.path.abspath(depth[0].directory) + depth[0].elements[0].filename).endswith("000000.png")
    assert bpy.path.abspath(movie["depthshot_pass"]) == str(run.worker.state.pass_path)
    first = run.worker.state.pass_path

    run = addon.operators.start_depth_run(bpy.context)  # the same job: the worker says its pass is there
    outcome = tick_until(run, lambda o: o.status != "running", timeout_s=REAL_WORKER_DEADLINE_S)
    assert outcome.status == "finished" and run.worker.state.reused and run.worker.state.pass_path == first
    assert status.text == f"done: {N} frames (reused)"
    assert len([s for s in movie.id_data.sequence_editor.strips if s.type == "IMAGE"]) == 1  # updated in place

    settings.input_size = 42  # another job: a new pass, never the old one
    run = addon.operators.start_depth_run(bpy.context)
    outcome = tick_until(run, lambda o: o.status != "running", timeout_s=REAL_WORKER_DEADLINE_S)
    assert outcome.status == "finished" and not run.worker.state.reused
    assert run.worker.state.pass_path != first
    assert bpy.path.abspath(movie["depthshot_pass"]) == str(run.worker.state.pass_path)
    assert len([s for s in movie.id_data.sequence_editor.strips if s.type == "IMAGE"]) == 1


@pytest.mark.slow
def test_real_worker_escape_then_resume_by_ticks(movie, vits_weights, addon):
    settings = real_settings(movie, vits_weights)
    status = board(addon, movie.id_data)
    run = addon.operators.start_depth_run(bpy.context)
    outcome = tick_until(run, lambda _: run.worker.state.started, timeout_s=REAL_WORKER_DEADLINE_S)
    assert outcome.status == "running"
    pid = run.worker.pid
    outcome = tick_until(run, lambda o: o.status != "running", timeout_s=60, cancel=True)  # Esc
    assert outcome.status == "cancelled" and not alive(pid)
    assert not status.running and len(movie.id_data.sequence_editor.strips) == 1

    run = addon.operators.start_depth_run(bpy.context)  # the same job again
    seen = []
    outcome = tick_until(run, lambda o: seen.append(status.progress) or o.status != "running",
                         timeout_s=REAL_WORKER_DEADLINE_S)
    assert outcome.status == "finished", outcome.message
    assert seen == sorted(seen) and seen[-1] == 100.0
    assert settings.shots and status.text == f"done: {N} frames"


def test_a_file_saved_mid_run_reopens_idle_and_loading_stops_the_worker(movie, tmp_path, addon):
    prefs().python_path = str(fake_worker(tmp_path, lines(addon, start(addon), PROGRESS) + "time.sleep(600)"))
    run = addon.operators.start_depth_run(bpy.context)
    status = board(addon, movie.id_data)
    tick_until(run, lambda _: status.progress > 0, timeout_s=20)
    assert status.running and bpy.ops.depthshot.cancel.poll()
    path = tmp_path / "mid_run.blend"
    assert bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True) == {"FINISHED"}

    assert bpy.ops.wm.open_mainfile(filepath=str(path)) == {"FINISHED"}
    run.worker.wait(10)
    assert not alive(run.worker.pid)  # the old file's worker does not run on unseen
    scene = bpy.context.scene
    bpy.context.workspace.sequencer_scene = scene
    scene.sequence_editor.active_strip = scene.sequence_editor.strips["clip"]
    assert not board(addon, scene).running and board(addon, scene).text == ""
    assert bpy.ops.depthshot.estimate_depth.poll() and not bpy.ops.depthshot.cancel.poll()
    assert not any(k in scene.depthshot for k in ("running", "cancel_requested", "progress", "status"))
    assert run.tick().status == "cancelled"  # a tick of the old run (its timer may fire once more) ends it


def test_with_online_access_off_a_missing_model_says_how_to_get_it(movie, tmp_path, addon, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # only the add-on's Online Access setting makes it offline
    assert not bpy.app.online_access
    settings = movie.id_data.depthshot
    settings.input_size = 28
    prefs().python_path = WORKER_PYTHON
    run = addon.operators.start_depth_run(bpy.context)
    outcome = tick_until(run, lambda o: o.status != "running", timeout_s=REAL_WORKER_DEADLINE_S)
    assert outcome.status == "failed" and run.worker.state.error_kind == "weights"
    assert "HF_HUB_OFFLINE" in outcome.message and "\n" not in outcome.message
    assert outcome.message.endswith("set the panel's Weights to the checkpoint file, or turn Online Access on")
    assert not (tmp_path / "empty-hf-cache").exists() or not any((tmp_path / "empty-hf-cache").rglob("*.pth"))


def test_preview_depth_streams_the_frames_around_the_playhead_like_the_cli(movie, vits_weights, addon, tmp_path):
    """Preview Depth through the real worker: engine vda-stream at Preview Size over Preview Frames frames centred
    on the playhead, attached and placed at those frames; its frames are the bytes ``python -m core.depth --engine
    vda-stream`` writes for the same window."""
    import subprocess

    from .conftest import FPS

    settings = real_settings(movie, vits_weights)
    settings.input_size, settings.preview_size, settings.preview_frames = 518, 28, 3
    scene = movie.id_data
    scene.frame_current = 4  # the strip shows source frames 0..5 at scene frames 1..6: preview frames 3, 4, 5
    run = addon.operators.start_depth_run(bpy.context, preview=True)
    outcome = tick_until(run, lambda o: o.status != "running", timeout_s=REAL_WORKER_DEADLINE_S)
    assert outcome.status == "finished", (outcome.message, run.worker.state.stderr_tail)
    assert board(addon, scene).text == "done: 3 frames"
    folder = run.worker.state.pass_path
    manifest = json.loads((folder / "depth_pass.json").read_text())
    assert manifest["model"]["engine"] == "vda-stream" and manifest["model"]["input_size"] == 28
    assert manifest["frame_count"] == 3 and manifest["model"]["start"] == pytest.approx(2 / FPS)
    depth = [s for s in scene.sequence_editor.strips if s.type == "IMAGE"]
    assert len(depth) == 1 and (depth[0].frame_final_start, depth[0].frame_final_duration) == (3, 3)
    assert bpy.path.abspath(movie["depthshot_pass"]) == str(folder)

    reference = tmp_path / "reference.depth"
    subprocess.run([WORKER_PYTHON, "-m", "core.depth", bpy.path.abspath(movie.filepath), "-o", str(reference),
                    "--engine", "vda-stream", "--model", "vda-s", "--weights", str(vits_weights), "--input-size",
                    "28", "--start", repr(2 / FPS), "--end", repr(5 / FPS)], check=True, capture_output=True)
    for i in range(3):
        name = f"depth/{i:06d}.png"
        assert (folder / name).read_bytes() == (reference / name).read_bytes()
    assert not (reference / "depth/000003.png").exists()
