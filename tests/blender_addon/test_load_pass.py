"""Load Depth Pass…: an existing pass is attached as it is; external depth is imported by the real worker
(``core.depth.import_depth``) through the same tick path, then attached."""

import shutil

import bpy
import cv2
import numpy as np
import pytest

from .conftest import WORKER_PYTHON, H, N, W, prefs


def test_an_existing_pass_is_attached_and_shown(movie, depth_pass, tmp_path, addon):
    copy = tmp_path / "elsewhere.depth"
    shutil.copytree(depth_pass, copy)
    assert bpy.ops.depthshot.load_depth_pass(filepath=str(copy / "depth_pass.json")) == {"FINISHED"}
    assert addon.scene_build.pass_path(movie) == copy
    depth = movie.id_data.sequence_editor.strips["clip depth"]
    assert depth.mute and len(depth.elements) == N
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}


def test_a_folder_that_is_no_pass_and_no_depth_fails_in_one_line(movie, tmp_path, addon):
    prefs().python_path = WORKER_PYTHON
    empty = tmp_path / "nothing here"
    empty.mkdir()
    with pytest.raises(RuntimeError, match="depth failed: .*no depth frames") as info:
        bpy.ops.depthshot.load_depth_pass(filepath=str(empty), synchronous=True)
    assert "Traceback" not in str(info.value)
    assert "depthshot_pass" not in movie


def test_external_depth_is_imported_by_the_worker_and_attached(movie, tmp_path, addon):
    frames = tmp_path / "sensor"
    frames.mkdir()
    for i in range(N):
        mm = np.full((H, W), 1000 + 100 * i, np.uint16)  # millimetres: 1.0 m, 1.1 m, ...
        mm[:, : W // 2] = 3000
        cv2.imwrite(str(frames / f"{i:04d}.png"), mm)
    prefs().python_path = WORKER_PYTHON
    run = addon.operators.start_import_run(bpy.context, frames, 1000.0, "metric_depth")
    status = addon.run_state.RUNS.get(movie.id_data.session_uid)
    texts = []
    while True:
        outcome = run.tick()
        texts.append(status.text)
        if outcome.status != "running":
            break
        __import__("time").sleep(0.05)
    assert outcome.status == "finished", outcome.message
    state = run.worker.state
    assert (state.frames_done, state.frame_count) == (N, N)  # the import's progress (fast: maybe all in one tick)
    manifest = addon.pass_manifest.read_manifest(addon.scene_build.pass_path(movie))
    assert manifest.kind == "metric_depth" and manifest.frame_count == N
    assert manifest.shots[0].hi == pytest.approx(3.0, abs=1e-3)  # metres, from the scale
    assert "import" in manifest.path.name
    assert movie.id_data.sequence_editor.strips["clip depth"].mute
