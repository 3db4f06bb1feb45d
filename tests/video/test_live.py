"""Live sources (a named pipe, stdin of a real process, a growing file) and the live writer, with real PyAV."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.video import read_frames
from core.video.errors import NoVideoStreamError
from core.video.live import (
    FrameSizeChangedError,
    LiveSource,
    LiveWriter,
    SourceBrokenError,
    SourceStalledError,
    is_live,
)

from .streams import audio_only_stream, encode_stream, noise_frames

W, H = 96, 64


def feed(path: Path, data: bytes, chunk: int = 4096, pause: float = 0.005, hold: float = 0.0) -> threading.Thread:
    """Write ``data`` into ``path`` (a FIFO or a file) in chunks from a thread; keep it open ``hold`` s after."""

    def run() -> None:
        with open(path, "wb", buffering=0) as f:
            for i in range(0, len(data), chunk):
                f.write(data[i : i + chunk])
                time.sleep(pause)
            time.sleep(hold)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def clip():
    frames = noise_frames(24, W, H)
    return frames, *encode_stream(frames)


def test_is_live(tmp_path):
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    (tmp_path / "f.mkv").write_bytes(b"x")
    assert is_live("-") and is_live(fifo) and is_live("rtsp://host/stream") and is_live("/dev/null")
    assert not is_live(tmp_path / "f.mkv") and not is_live(tmp_path / "missing")


@pytest.mark.parametrize("fmt", ["matroska", "mpegts"])
def test_named_pipe_delivers_every_frame_with_arrival_times(tmp_path, fmt):
    frames = noise_frames(24, W, H)
    data, _ = encode_stream(frames, fmt)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    feed(fifo, data)
    with LiveSource(fifo, timeout=5) as src:
        got = list(src.frames())
    assert len(got) == 24 and got[0].image.shape == (H, W, 3)
    assert [f.index for f in got] == list(range(24))
    assert got[1].pts == pytest.approx(1 / 24, abs=1e-3)
    assert all(a.arrived <= b.arrived for a, b in zip(got, got[1:]))
    # in order: frame 5 is nearer to source frame 5 than to source frame 12 (lossy H.264, so not equal)
    def err(i: int, j: int) -> float:
        return float(abs(got[i].image.astype(int) - frames[j]).mean())

    assert err(5, 5) < 0.8 * err(5, 12)


def test_stream_cut_inside_a_packet_breaks_after_the_frames_before(tmp_path, clip):
    _, data, packets = clip
    pos, size = packets[12]
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    feed(fifo, data[: pos + size // 2])
    delivered = []
    with LiveSource(fifo, timeout=5) as src, pytest.raises(SourceBrokenError, match="broke off") as err:
        for f in src.frames():
            delivered.append(f)
    assert 8 <= len(delivered) <= 12 and err.value.frames == len(delivered)


def test_mpegts_cut_inside_a_ts_packet_breaks(tmp_path):
    data, _ = encode_stream(noise_frames(24, W, H), "mpegts")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    feed(fifo, data[: len(data) // 2 + 100])
    with LiveSource(fifo, timeout=5) as src, pytest.raises(SourceBrokenError, match="broke off"):
        for _ in src.frames():
            pass


def test_stalled_pipe_times_out(tmp_path, clip):
    _, data, packets = clip
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    feed(fifo, data[: packets[10][0]], hold=5)  # the writer keeps the pipe open but sends nothing more
    t0 = time.monotonic()
    delivered = 0
    with LiveSource(fifo, timeout=0.5) as src, pytest.raises(SourceStalledError, match="no data for 0.5 s"):
        for _ in src.frames():
            delivered += 1
    assert delivered >= 5 and time.monotonic() - t0 < 4


def test_growing_file_is_followed_until_it_stops_growing(tmp_path, clip):
    _, data, _ = clip
    path = tmp_path / "recording.mkv"
    path.write_bytes(data[:2000])
    writer = threading.Thread(target=lambda: _append_slowly(path, data[2000:]), daemon=True)
    writer.start()
    with LiveSource(path, timeout=1.0) as src:
        got = list(src.frames())
    assert len(got) == 24  # frames written after the reader reached the end were still read


def _append_slowly(path: Path, data: bytes) -> None:
    with open(path, "ab", buffering=0) as f:
        for i in range(0, len(data), 3000):
            f.write(data[i : i + 3000])
            time.sleep(0.05)


def test_size_change_mid_stream_is_refused_after_the_first_frames(tmp_path):
    # two raw H.264 streams back to back: the second starts with the parameter sets of another size
    a, _ = encode_stream(noise_frames(10, W, H), "h264")
    b, _ = encode_stream(noise_frames(10, 64, 48), "h264")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    feed(fifo, a + b)
    delivered = 0
    with LiveSource(fifo, timeout=5, input_format="h264") as src, pytest.raises(FrameSizeChangedError, match="is 64x48, the stream started at 96x64"):
        for _ in src.frames():
            delivered += 1
    assert delivered == 10


def test_no_video_stream_is_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    feed(fifo, audio_only_stream())
    with pytest.raises(NoVideoStreamError, match="holds no video"):
        LiveSource(fifo, timeout=5).open()


def test_stdin_of_a_process(clip):
    """``-`` reads the process's stdin (a real pipe from another process)."""
    _, data, _ = clip
    code = "from core.video.live import LiveSource\nwith LiveSource('-', timeout=5) as s: print(sum(1 for _ in s.frames()))"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip() == "24"


@pytest.mark.parametrize("suffix", [".mkv", ".ts", ".mp4"])
def test_live_writer_output_is_playable_while_written_and_after_close(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    frames = noise_frames(12, W, H)
    writer = LiveWriter(path, W, H, 24)
    writer.open()
    for f in frames[:8]:
        writer.write(f)
    # before close: what is on disk already decodes (flushed packet by packet; MP4 fragmented)
    if suffix != ".mp4":  # an MP4 fragment is written at the next key frame
        assert sum(1 for _ in read_frames(path)) >= 1
    for f in frames[8:]:
        writer.write(f)
    writer.close()
    assert sum(1 for _ in read_frames(path)) == 12


def test_url_source_delivers_every_frame_in_order(http_folder):
    folder, base = http_folder
    frames = noise_frames(24, W, H)
    data, _ = encode_stream(frames, "mpegts")
    (folder / "live.ts").write_bytes(data)
    assert is_live(f"{base}/live.ts")
    with LiveSource(f"{base}/live.ts", timeout=5) as src:
        got = list(src.frames())
    assert [f.index for f in got] == list(range(24)) and got[0].image.shape == (H, W, 3)
    err = lambda i, j: float(abs(got[i].image.astype(int) - frames[j]).mean())  # noqa: E731
    assert err(7, 7) < 0.8 * err(7, 15)


def test_url_that_is_not_there_is_refused_in_one_line(http_folder):
    from core.video.errors import VideoError

    _, base = http_folder
    with pytest.raises(VideoError) as info:
        LiveSource(f"{base}/missing.ts", timeout=5).open()
    assert "missing.ts" in str(info.value) and "\n" not in str(info.value)
