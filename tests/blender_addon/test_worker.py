"""The depth operator drives a real worker process; failures are reported and leave Blender usable."""

import stat
import sys

import bpy
import pytest

from .conftest import MODULE, N


def _prefs():
    return bpy.context.preferences.addons[MODULE].preferences


@pytest.fixture
def movie(scene, clip):
    strip = scene.sequence_editor.strips.new_movie("clip", str(clip), 1, 1)
    scene.sequence_editor.active_strip = strip
    yield strip
    _prefs().python_path = ""


def test_crashing_worker_is_reported_and_blender_stays_usable(movie, tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'Segmentation fault (simulated)' >&2\nexit 139\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    _prefs().python_path = str(fake)
    with pytest.raises(RuntimeError, match="exited with status 139: Segmentation fault"):
        bpy.ops.depthshot.estimate_depth(synchronous=True)
    settings = movie.id_data.depthshot
    assert not settings.running and settings.status.startswith("failed")
    # still usable: the same operator can run again, other data can change
    assert bpy.ops.depthshot.estimate_depth.poll()
    movie.frame_offset_start = 1
    assert movie.frame_final_start == 2


def test_worker_error_message_reaches_the_user(movie, tmp_path):
    movie.filepath = str(tmp_path / "missing.mp4")
    _prefs().python_path = sys.executable
    with pytest.raises(RuntimeError, match="depth failed: "):
        bpy.ops.depthshot.estimate_depth(synchronous=True)
    assert movie.id_data.depthshot.status.startswith("failed: ")
    assert len(movie.id_data.sequence_editor.strips) == 1


def test_trims_become_the_job_time_range(movie, addon):
    movie.frame_offset_start = 2
    movie.frame_offset_end = 1
    assert addon.operators.strip_time_range(movie) == pytest.approx((2 / movie.fps, (N - 1) / movie.fps))


@pytest.mark.slow
def test_real_worker_end_to_end(movie, vits_weights, tmp_path, monkeypatch):
    settings = movie.id_data.depthshot
    settings.model, settings.weights, settings.input_size, settings.precision = "vda-s", str(vits_weights), 56, "fp32"
    settings.shots = False
    _prefs().python_path = sys.executable
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert bpy.ops.depthshot.estimate_depth(synchronous=True) == {"FINISHED"}
    strips = movie.id_data.sequence_editor.strips
    depth = [s for s in strips if s.type == "IMAGE"]
    assert len(depth) == 1 and depth[0].frame_final_duration == N and depth[0].channel == movie.channel + 1
    assert (bpy.path.abspath(depth[0].directory) + depth[0].elements[0].filename).endswith("000000.png")
