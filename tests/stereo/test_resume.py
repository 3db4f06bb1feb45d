"""Resuming python -m core.stereo after a real kill -9 or Ctrl-C, restarting on changed options."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

import core.stereo.convert as convert
from core.cli import run_main
from core.depth.depth_pass import DepthPassWriter, PassInfo
from core.stereo.__main__ import main
from core.video import probe, read_frames
from tests.video import media  # the video tests' clip writer (PyAV direct)

ROOT = Path(__file__).resolve().parents[2]
W, H, N, FPS = 64, 48, 40, 10


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 40-frame clip with audio and subtitles and a depth pass whose near band moves across the frame."""
    folder = tmp_path_factory.mktemp("clip")
    src = media.write_video(folder / "in.mp4", frames=N, size=(W, H), fps=FPS, audio="aac", subtitles=True)
    writer = DepthPassWriter(folder / "depth", PassInfo(source="", fps=FPS, width=W, height=H,
                                                        kind="relative_inverse_depth"))
    writer.begin_shot(0)
    for i in range(N):
        d = np.zeros((H, W), np.float32)
        d[:, i % W : i % W + 16] = 1.0
        writer.write(i, d, i / FPS)
    writer.end_shot()
    writer.close()
    return src, folder / "depth"


def _argv(src, depth, out, *extra):
    return [str(src), "-o", str(out), "--depth", str(depth), "--encode-preset", "ultrafast", "--segment-seconds", "0.3",
            *map(str, extra)]


def _frames(path):
    return [(f.pts, f.image) for f in read_frames(path)]


def _assert_same_video(a, b):
    fa, fb = _frames(a), _frames(b)
    assert len(fa) == len(fb) == N
    for (ta, ia), (tb, ib) in zip(fa, fb):
        assert ta == tb and np.array_equal(ia, ib)


def _segments(work: Path) -> int:
    try:
        return len(json.loads((work / "job.json").read_text())["segments"])
    except (OSError, ValueError):
        return 0


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_gives_the_uninterrupted_video(clip, tmp_path, monkeypatch):
    src, depth = clip
    reference = tmp_path / "ref" / "out_LRF_Full_SBS.mp4"  # also: the output folder is created
    assert run_main(main, _argv(src, depth, reference)) == 0
    out = tmp_path / "out_LRF_Full_SBS.mp4"
    work = tmp_path / f".{out.name}.work"
    proc = subprocess.Popen([sys.executable, "-m", "core.stereo", *_argv(src, depth, out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _segments(work) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _segments(work)
    assert not out.exists() and 3 <= done < N // 3, f"the run was not cut mid-way ({done} segments)"
    with monkeypatch.context() as m:
        _interrupt_after(m, N - 3 * done)  # the rerun renders only the frames left
        assert run_main(main, _argv(src, depth, out)) == 0
    _assert_same_video(out, reference)
    info = probe(out)
    assert (info.width, info.height, info.audio_streams, info.subtitle_streams) == (2 * W, H, 1, 1)
    assert media.subtitle_texts(out) == media.subtitle_texts(reference)
    assert media.stream_span(out, "audio") == media.stream_span(reference, "audio")
    with av.open(str(out)) as c:  # the H.264 frame-packing SEI (side by side) is still in the copied stream
        frame = next(c.decode(video=0))
        assert av.sidedata.sidedata.Type.STEREO3D in [s.type for s in frame.side_data]
    assert not work.exists()


def _interrupt_after(monkeypatch, frames: int) -> None:
    """Make the conversion stop with Ctrl-C (KeyboardInterrupt) after ``frames`` rendered frames."""
    render = convert._Synthesizer.render
    calls = {"n": 0}

    def render_then_stop(self, *args):
        calls["n"] += 1
        if calls["n"] > frames:
            raise KeyboardInterrupt
        return render(self, *args)

    monkeypatch.setattr(convert._Synthesizer, "render", render_then_stop)


def test_changed_option_restarts_instead_of_mixing_segments(clip, tmp_path, monkeypatch):
    src, depth = clip
    out = tmp_path / "o.mkv"
    reference = tmp_path / "ref.mkv"
    assert run_main(main, _argv(src, depth, reference, "--divergence", 4)) == 0
    with monkeypatch.context() as m:
        _interrupt_after(m, 12)
        with pytest.raises(KeyboardInterrupt):
            main(_argv(src, depth, out, "--divergence", 2))
    assert _segments(tmp_path / ".o.mkv.work") == 4  # 3-frame segments
    assert run_main(main, _argv(src, depth, out, "--divergence", 4)) == 0
    _assert_same_video(out, reference)
    with av.open(str(out)) as c:
        assert c.streams.video[0].metadata["stereo_mode"] == "left_right"
