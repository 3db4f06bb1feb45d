"""``import_depth --video`` takes the video's real frame times (variable frame rate), checked against Debian's
ffprobe, and ``core.stereo`` then finds a depth frame for every video frame."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from core.depth.depth_pass import DepthPass
from tests import media_tools as mt


def test_vfr_video_times_are_recorded_and_stereo_accepts_the_pass(tmp_path):
    video = mt.vfr_input(tmp_path)
    times = [float(p["pts_time"]) for p in mt.packets(video, "v")]
    times.sort()
    assert np.ptp(np.diff(times)) > 0.1  # really variable
    np.savez(tmp_path / "depth.npz", depth=np.linspace(1, 3, len(times) * 48 * 64, dtype=np.float32).reshape(-1, 48, 64))
    done = subprocess.run([sys.executable, "-m", "core.depth.import_depth", str(tmp_path / "depth.npz"),
                           "-o", str(tmp_path / "pass"), "--video", str(video)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    recorded = DepthPass.open(tmp_path / "pass").info.timestamps
    assert recorded == pytest.approx([t - times[0] for t in times], abs=1e-3)
    out = tmp_path / "sbs.mp4"
    done = subprocess.run([sys.executable, "-m", "core.stereo", str(video), "--depth", str(tmp_path / "pass"),
                           "-o", str(out), "--encode-preset", "ultrafast"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    written = sorted(float(p["pts_time"]) for p in mt.packets(out, "v"))
    assert written == pytest.approx([t - times[0] for t in times], abs=2e-3)


def test_more_depth_frames_than_video_frames_is_one_line(tmp_path):
    video = mt.vfr_input(tmp_path)
    np.savez(tmp_path / "depth.npz", depth=np.ones((20, 48, 64), np.float32))
    done = subprocess.run([sys.executable, "-m", "core.depth.import_depth", str(tmp_path / "depth.npz"),
                           "-o", str(tmp_path / "pass"), "--video", str(video)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "12 video frames" in done.stderr
    assert not (tmp_path / "pass").exists()
