"""The depth operator drives a real worker process; failures are reported and leave Blender usable."""

import stat

import bpy
import pytest

from .conftest import WORKER_PYTHON, N, prefs


def test_crashing_worker_is_reported_and_blender_stays_usable(movie, tmp_path, addon):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'Segmentation fault (simulated)' >&2\nexit 139\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    prefs().python_path = str(fake)
    with pytest.raises(RuntimeError, match="exited with status 139: Segmentation fault"):
        bpy.ops.depthshot.estimate_depth(synchronous=True)
    status = addon.run_state.RUNS.get(movie.id_data.session_uid)
    assert not status.running and status.text.startswith("failed")
    # still usable: the same operator can run again, other data can change
    assert bpy.ops.depthshot.estimate_depth.poll()
    movie.frame_offset_start = 1
    assert movie.frame_final_start == 2


def test_worker_error_message_reaches_the_user(movie, tmp_path, addon):
    (tmp_path / "clip.mp4").write_bytes(b"not a video")
    prefs().python_path = WORKER_PYTHON
    movie.id_data.depthshot.input_size = 28
    with pytest.raises(RuntimeError, match="depth failed: ") as info:
        bpy.ops.depthshot.estimate_depth(synchronous=True)
    assert "Traceback" not in str(info.value)
    assert addon.run_state.RUNS.get(movie.id_data.session_uid).text.startswith("failed: ")
    assert len(movie.id_data.sequence_editor.strips) == 1


def test_trims_become_the_job_time_range(movie, addon):
    movie.frame_offset_start = 2
    movie.frame_offset_end = 1
    assert addon.operators.strip_time_range(movie) == pytest.approx((2 / movie.fps, (N - 1) / movie.fps))
