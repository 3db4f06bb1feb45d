"""``python -m core.stereo SOURCE --live`` and ``python -m core.depth SOURCE --engine vda-stream`` on live input:
a real pipe into a real process, the output decoded back with PyAV."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.depth.depth_pass import DepthPass
from core.video import read_frames

from tests.robust import ENV, REPO
from tests.video.streams import audio_only_stream, encode_stream, noise_frames

W, H, N = 96, 64, 16
LATENCY = re.compile(r"(\d+) frames at [\d.]+ fps; latency \(frame decoded -> frame written\) p50 ([\d.]+) ms, "
                     r"p99 ([\d.]+) ms; the source (ended|broke off)")


@pytest.fixture(scope="module")
def stream():
    return encode_stream(noise_frames(N, W, H, seed=3))


def live(module: str, args: list, data: bytes, *, hold: float = 0.0, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m MODULE ARGS`` with ``data`` written into its stdin through a pipe, in chunks as a producer
    would (from a thread, while the output is read); the pipe stays open up to ``hold`` s after the last byte (or
    until the command exits), then closes."""
    proc = subprocess.Popen([sys.executable, "-m", module, *map(str, args)], cwd=REPO, env=ENV,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pipe, proc.stdin = proc.stdin, None  # fed by the thread; communicate() only reads

    def produce() -> None:
        try:
            for i in range(0, len(data), 8192):
                pipe.write(data[i : i + 8192])
                pipe.flush()
                time.sleep(0.01)
            deadline = time.monotonic() + hold
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
        except BrokenPipeError:
            pass
        finally:
            try:
                pipe.close()
            except BrokenPipeError:
                pass

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    out, err = proc.communicate(timeout=timeout)
    producer.join()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err.decode())


def engine(weights: Path) -> list:
    return ["--model", "vda-s", "--weights", weights, "--input-size", "56", "--device", "cpu"]


def test_pipe_to_playable_stereo_file_with_latency_report(stream, vits_weights, tmp_path):
    data, _ = stream
    out = tmp_path / "live_LRF_Full_SBS.mkv"
    run = live("core.stereo", ["-", "--live", "-o", out, *engine(vits_weights)], data)
    assert run.returncode == 0, run.stderr
    found = LATENCY.search(run.stderr)
    assert found and int(found[1]) == N and found[4] == "ended", run.stderr
    assert 0 < float(found[2]) <= float(found[3])
    frames = [f.image for f in read_frames(out)]
    assert len(frames) == N and frames[0].shape == (H, 2 * W, 3)
    left, right = frames[10][:, :W].astype(int), frames[10][:, W:].astype(int)
    assert np.abs(left - right).mean() > 1  # two different views, not a copy


def test_broken_pipe_mid_stream_leaves_a_playable_file_and_fails(stream, vits_weights, tmp_path):
    data, packets = stream
    pos, size = packets[14]
    out = tmp_path / "cut.mp4"
    run = live("core.stereo", ["-", "--live", "-o", out, *engine(vits_weights)], data[: pos + size // 2])
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("error: stdin: the stream broke off after frame ")
    assert "the source broke off" in run.stderr and "Traceback" not in run.stderr
    got = sum(1 for _ in read_frames(out))  # a fragmented MP4, finalised
    assert 8 <= got <= 14


@pytest.mark.slow  # the source-level stall test in tests/video/test_live.py is quick
def test_stalled_source_times_out_and_keeps_what_was_written(stream, vits_weights, tmp_path):
    data, packets = stream
    out = tmp_path / "stall.ts"
    args = ["-", "--live", "-o", out, "--timeout", "2", *engine(vits_weights)]
    run = live("core.stereo", args, data[: packets[12][0]], hold=280)  # open until it gives up
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("error: stdin: no data for 2 s (--timeout) after frame")
    assert sum(1 for _ in read_frames(out)) >= 6


def test_stdout_stream_plays(stream, vits_weights, tmp_path):
    data, _ = stream
    run = live("core.stereo", ["-", "--live", "-o", "-", "--stream-format", "mpegts", "--layout", "tb_half",
                               *engine(vits_weights)], data)
    assert run.returncode == 0, run.stderr
    (tmp_path / "out.ts").write_bytes(run.stdout)
    frames = [f.image for f in read_frames(tmp_path / "out.ts")]
    assert len(frames) == N and frames[0].shape == (H, W, 3)


def test_no_video_is_one_error_line(vits_weights, tmp_path):
    out = tmp_path / "never.mkv"
    run = live("core.stereo", ["-", "--live", "-o", out, *engine(vits_weights)], audio_only_stream())
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip() and not line.startswith("WARNING")]
    assert lines == ["error: stdin: the stream holds no video"]
    assert not out.exists()


def test_depth_pass_from_a_pipe_equals_the_file_run(stream, vits_weights, tmp_path):
    """``core.depth - --engine vda-stream``: the pass made from the pipe equals the one made from the same bytes
    as a file with --no-shots (one stream over the whole input)."""
    data, _ = stream
    src = tmp_path / "src.mkv"
    src.write_bytes(data)
    run = live("core.depth", ["-", "--engine", "vda-stream", "-o", tmp_path / "live", *engine(vits_weights)], data)
    assert run.returncode == 0, run.stderr
    assert LATENCY.search(run.stderr)
    ref = subprocess.run([sys.executable, "-m", "core.depth", src, "--engine", "vda-stream", "--no-shots", "-o",
                          tmp_path / "file", *map(str, engine(vits_weights))], cwd=REPO, env=ENV, capture_output=True,
                         text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr
    a, b = DepthPass.open(tmp_path / "live"), DepthPass.open(tmp_path / "file")
    assert len(a) == len(b) == N and a.info.model["live"] and a.info.source == ""
    assert a.info.timestamps == pytest.approx(b.info.timestamps)
    for i in (0, 11, N - 1):
        np.testing.assert_array_equal(a.read(i), b.read(i))


def test_url_source_to_playable_stereo_file(http_folder, vits_weights):
    """A URL that PyAV opens (a real local HTTP server), as a user points the command at a network stream."""
    folder, base = http_folder
    data, _ = encode_stream(noise_frames(N, W, H, seed=3), "mpegts")
    (folder / "cam.ts").write_bytes(data)
    out = folder / "cam_LRF_Full_SBS.mkv"
    run = subprocess.run([sys.executable, "-m", "core.stereo", f"{base}/cam.ts", "--live", "-o", out,
                          *map(str, engine(vits_weights))], cwd=REPO, env=ENV, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    found = LATENCY.search(run.stderr)
    assert found and int(found[1]) == N and found[4] == "ended", run.stderr
    frames = [f.image for f in read_frames(out)]
    assert len(frames) == N and frames[0].shape == (H, 2 * W, 3)
