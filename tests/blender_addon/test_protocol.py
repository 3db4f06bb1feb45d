"""The worker contract and the add-on's plain-Python modules, without Blender: the add-on's copy of the protocol is
the core's, every message the real worker sends fits it, and the modules import with bpy unavailable."""

import json
import subprocess
import sys

import pytest

from core import worker_protocol as core_protocol

from .conftest import REPO

PLAIN_MODULES = ("worker_protocol", "worker_process", "run_state", "jobs", "pass_manifest", "camera_model")


def test_the_addon_carries_the_cores_protocol_module_unchanged():
    addon_copy = REPO / "blender_addon" / "worker_protocol.py"
    assert addon_copy.read_bytes() == (REPO / "core" / "worker_protocol.py").read_bytes()


def test_plain_modules_import_without_blender():
    code = (
        "import sys; sys.modules['bpy'] = None\n"  # any 'import bpy' now fails
        f"import importlib; [importlib.import_module('blender_addon.' + m) for m in {PLAIN_MODULES!r}]\n"
        "print(sorted(m for m, v in sys.modules.items() if v is not None and m.split('.')[0] in ('bpy', 'torch', 'core')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_null_fields_are_allowed_only_where_the_contract_says():
    p = core_protocol
    line = p.encode("progress", stage="scan", frames_done=0, frame_count=None, fps=None, eta_s=None)
    message = p.decode(line)
    assert message.type == "progress" and message["eta_s"] is None and message["frame_count"] is None
    with pytest.raises(p.ProtocolError, match="stage may not be null"):
        p.decode(json.dumps({"type": "progress", "stage": None, "frames_done": 0, "frame_count": 1, "fps": 1.0,
                             "eta_s": 1.0}))
    with pytest.raises(p.ProtocolError, match="missing"):
        p.decode(json.dumps({"type": "done", "pass": "/x"}))
    with pytest.raises(p.ProtocolError, match="unknown stage"):
        p.encode("progress", stage="warp", frames_done=0, frame_count=None, fps=None, eta_s=None)
    with pytest.raises(p.ProtocolError, match="boolean"):
        p.encode("progress", stage="depth", frames_done=True, frame_count=None, fps=None, eta_s=None)


def test_start_request_round_trips_and_a_version_mismatch_says_what_to_do():
    p = core_protocol
    job = {"input": "/a.mp4", "output": "/p", "shots": True}
    assert p.parse_start_request(p.start_request(job)) == ("depth", job)
    assert p.parse_start_request(p.start_request(job, "import")) == ("import", job)
    with pytest.raises(p.ProtocolError, match="unknown task"):
        p.parse_start_request(json.dumps({"type": "start", "protocol": p.PROTOCOL_VERSION, "task": "x", "job": {}}))
    old = json.dumps({"type": "start", "protocol": p.PROTOCOL_VERSION - 1, "job": job})
    with pytest.raises(p.ProtocolError, match="install the depthshot release that matches the add-on"):
        p.parse_start_request(old)
    with pytest.raises(p.ProtocolError, match="matches the add-on"):
        p.check_start_reply(p.Message("start", {"protocol": p.PROTOCOL_VERSION + 1, "pid": 1}))


def test_worker_state_shows_every_stage_without_crashing_on_nulls():
    from blender_addon.worker_process import WorkerState, apply_message

    p = core_protocol
    state = WorkerState()
    texts = []
    for stage, done, count, fps, eta in (("load", 0, None, None, None), ("scan", 0, None, None, None),
                                         ("depth", 0, 40, None, None), ("depth", 10, 40, 2.5, 12.0),
                                         ("done", 40, 40, 2.5, 0.0)):
        apply_message(state, p.decode(p.encode("progress", stage=stage, frames_done=done, frame_count=count,
                                               fps=fps, eta_s=eta)))
        texts.append(state.describe())
    assert texts == ["loading the model", "finding shots", "depth 0/40", "depth 10/40, 2.5 fps, 12 s left", "done"]
    assert state.fraction == 1.0


def test_job_keys_change_with_every_setting_that_changes_the_depth(tmp_path):
    from blender_addon import jobs

    job = {"input": "/v.mp4", "output": "/o", "model": "vda-s", "weights": None, "input_size": 518, "max_res": None,
           "precision": "fp32", "shots": True, "start": 0.0, "end": 2.0}
    key = jobs.job_key(job)
    assert jobs.job_key({**job, "output": "/elsewhere"}) == key
    for name, value in (("input_size", 504), ("weights", "/w.pth"), ("precision", "bf16"), ("shots", False),
                        ("max_res", 256), ("model", "vda-b"), ("start", 0.5), ("end", 1.0)):
        assert jobs.job_key({**job, name: value}) != key, name
    assert jobs.pass_name("my clip.mp4", job) == f"my_clip.mp4-vda-s-{key}"


def test_job_checks_give_one_line_reasons(tmp_path):
    from blender_addon import jobs

    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    good = {"input": str(video), "output": str(tmp_path / "out" / "p"), "model": "vda-s", "weights": None,
            "input_size": 518, "precision": "fp32"}
    assert jobs.check_job(good, "auto") is None
    assert jobs.check_job({**good, "precision": "fp16"}, "cpu") == "FP16 runs only on CUDA: choose FP32 or BF16 for the CPU"
    assert "multiple of 14 (e.g. 518)" in jobs.check_job({**good, "input_size": 520}, "auto")
    assert "video is missing" in jobs.check_job({**good, "input": str(tmp_path / "gone.mp4")}, "auto")
    blocker = tmp_path / "a file"  # a file where the output's folder would go
    blocker.write_bytes(b"")
    assert jobs.check_job({**good, "output": str(blocker / "p")}, "auto").startswith("cannot write")
    assert not (tmp_path / "out").exists()


def test_strip_time_range_follows_trims():
    from blender_addon.jobs import strip_time_range

    # a 24 fps source placed at scene frame 10, its first 2 frames and last frame trimmed off a 6-frame clip
    assert strip_time_range(10, 12, 15, 24.0) == pytest.approx((2 / 24, 5 / 24))
    with pytest.raises(ValueError):
        strip_time_range(1, 1, 2, 0.0)


def test_manifest_reading_follows_frame_pattern_and_refuses_other_encodings(depth_pass, tmp_path):
    import shutil

    from blender_addon.pass_manifest import PassError, read_manifest

    copy = tmp_path / "p"
    shutil.copytree(depth_pass, copy)
    manifest = read_manifest(copy)
    assert manifest.frame_path(3) == copy / "depth" / "000003.png" and manifest.missing_frames() == []
    data = json.loads((copy / "depth_pass.json").read_text())
    (copy / "depth").rename(copy / "frames")
    for f in (copy / "frames").iterdir():
        f.rename(f.with_name(f"d{int(f.stem)}.png"))
    data["frame_pattern"] = "frames/d{index}.png"
    (copy / "depth_pass.json").write_text(json.dumps(data))
    moved = read_manifest(copy)
    assert moved.frame_path(3) == copy / "frames" / "d3.png" and moved.missing_frames() == []
    assert moved.depth_range() == (min(s.p2 for s in moved.shots), max(s.p98 for s in moved.shots))
    data["encoding"] = "exr32"
    (copy / "depth_pass.json").write_text(json.dumps(data))
    with pytest.raises(PassError, match="encoded as 'exr32'"):
        read_manifest(copy)
