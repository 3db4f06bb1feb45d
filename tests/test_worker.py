"""``python -m core.worker`` as the add-on runs it: a real process speaking the contract of core.worker_protocol."""

import subprocess
import sys
import time
from pathlib import Path

from core import worker_protocol as protocol
from tests.depth.videos import scene_frames, write_video
from tests.robust import snapshot

REPO = Path(__file__).resolve().parents[1]


def start_worker(tmp_path, env_extra=None):
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-P", "-m", "core.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)


def messages(out: str) -> list[protocol.Message]:
    return [protocol.decode(line) for line in out.splitlines() if line.strip()]


def test_a_request_of_another_protocol_version_gets_an_error_saying_what_to_do(tmp_path):
    proc = start_worker(tmp_path)
    request = '{"type": "start", "protocol": 1, "job": {}}\n'
    out, err = proc.communicate(request, timeout=120)
    assert proc.returncode == protocol.EXIT_ERROR
    (message,) = messages(out)
    assert message.type == "error" and message["kind"] == "input"
    assert "matches the add-on" in message["message"] and "Traceback" not in err


def test_missing_weights_offline_are_reported_as_such(tmp_path):
    video = tmp_path / "v.mp4"
    write_video(video, scene_frames(4, 64, 48, seed=1))
    proc = start_worker(tmp_path, {"HF_HOME": str(tmp_path / "hf")})
    job = {"input": str(video), "output": str(tmp_path / "p"), "model": "vda-s", "input_size": 28}
    proc.stdin.write(protocol.start_request(job))  # stdin stays open: closing it would cancel
    proc.stdin.flush()
    got = messages(proc.stdout.read())
    proc.wait(timeout=60)
    assert [m.type for m in got] == ["start", "progress", "error"]
    assert got[0]["protocol"] == protocol.PROTOCOL_VERSION and got[1]["stage"] == "load"
    assert got[2]["kind"] == "weights" and "HF_HUB_OFFLINE" in got[2]["message"]
    assert proc.returncode == protocol.EXIT_ERROR and not (tmp_path / "p").exists()


def test_a_job_that_fails_while_its_weights_load_gets_its_error_though_stdin_closed_right_after_the_request(
        tmp_path):
    video = write_video(tmp_path / "v.mp4", scene_frames(4, 64, 48, seed=1))
    weights = tmp_path / "vits.pth"
    weights.write_bytes(b"PK\x03\x04 half a checkpoint")
    before = snapshot(tmp_path)
    proc = start_worker(tmp_path)
    job = {"input": str(video), "output": str(tmp_path / "p"), "model": "vda-s", "weights": str(weights),
           "input_size": 28, "device": "cpu"}
    out, err = proc.communicate(protocol.start_request(job), timeout=120)  # stdin closes right after the request
    assert proc.returncode == protocol.EXIT_ERROR, err
    got = messages(out)
    assert [m.type for m in got] == ["start", "progress", "error"] and got[2]["kind"] == "input"
    assert "cannot read weights file" in got[2]["message"]
    assert err.strip().splitlines()[-1] == f"error: {got[2]['message']}" and "Traceback" not in err
    assert snapshot(tmp_path) == before  # the input untouched, no output folder


def test_closing_stdin_stops_the_worker_within_the_grace_even_when_it_is_busy(tmp_path, vits_weights):
    video = tmp_path / "v.mp4"
    write_video(video, scene_frames(40, 448, 336, seed=1))
    proc = start_worker(tmp_path)
    job = {"input": str(video), "output": str(tmp_path / "p"), "model": "vda-s", "weights": str(vits_weights),
           "input_size": 518}
    proc.stdin.write(protocol.start_request(job))
    proc.stdin.flush()
    lines = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # until the model is loaded and the depth stage under way
        line = proc.stdout.readline()
        lines.append(line)
        if not line or protocol.decode(line).type == "progress" and protocol.decode(line)["stage"] == "depth":
            break
    time.sleep(2.0)  # the first window of 32 frames at 518 px is being computed now (a minute on 2 cores)
    t0 = time.monotonic()
    proc.stdin.close()
    out = proc.stdout.read()
    proc.wait(timeout=60)
    stopped_after = time.monotonic() - t0
    assert proc.returncode == protocol.EXIT_STOPPED
    final = messages("".join(lines) + out)[-1]
    assert final.type == "error" and final["kind"] == "stopped"
    assert stopped_after < protocol.CANCEL_GRACE_S  # the add-on never needs to kill it
