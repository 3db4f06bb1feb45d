"""``core.stereo`` outputs read back with Debian's ffprobe: codec/container pairs refused up front, and defaults
that play everywhere (4:2:0 8-bit H.264 High; H.265 Main10 for 10-bit sources)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import media_tools as mt
from tests.stereo.test_cli import _pass
from tests.video import media


def _stereo(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.stereo", *map(str, argv)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stereo_in")
    src = media.write_video(folder / "in.mp4", frames=6, size=(64, 48), fps=10)
    return src, _pass(folder / "in_depth")


@pytest.mark.parametrize("codec, suffix", [("ffv1", ".mov"), ("prores", ".mp4"), ("ffv1", ".mp4")])
def test_codec_container_mismatch_is_refused_before_anything(inputs, tmp_path, codec, suffix):
    src, depth = inputs
    done = _stereo(src, "--depth", depth, "--codec", codec, "-o", tmp_path / f"x{suffix}")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert f"cannot hold {codec}" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # no output, no .work folder


def test_anaglyph_default_is_420_8_bit_h264_high(inputs, tmp_path):
    src, depth = inputs
    out = tmp_path / "a.mp4"
    done = _stereo(src, "--depth", depth, "--layout", "anaglyph", "--encode-preset", "veryfast", "-o", out)
    assert done.returncode == 0, done.stderr
    video = [s for s in mt.streams(out) if s["codec_type"] == "video"][0]
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("h264", "High", "yuv420p")


def test_anaglyph_444_on_request(inputs, tmp_path):
    src, depth = inputs
    out = tmp_path / "a444.mp4"
    done = _stereo(src, "--depth", depth, "--layout", "anaglyph", "--pix-fmt", "yuv444p", "--encode-preset",
                   "veryfast", "-o", out)
    assert done.returncode == 0, done.stderr
    video = [s for s in mt.streams(out) if s["codec_type"] == "video"][0]
    assert (video["profile"], video["pix_fmt"]) == ("High 4:4:4 Predictive", "yuv444p")


def test_ten_bit_source_defaults_to_h265_main10(tmp_path):
    src = mt.hlg_input(tmp_path)
    depth = _pass(tmp_path / "depth", frames=10)
    out = tmp_path / "deep.mp4"
    done = _stereo(src, "--depth", depth, "--encode-preset", "ultrafast", "-o", out)
    assert done.returncode == 0, done.stderr
    video = [s for s in mt.streams(out) if s["codec_type"] == "video"][0]
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("hevc", "Main 10", "yuv420p10le")
    assert (video["codec_tag_string"], video["color_transfer"]) == ("hvc1", "arib-std-b67")
    stereo = [d for d in video.get("side_data_list", []) if d["side_data_type"] == "Stereo 3D"]
    assert stereo and stereo[0]["type"] == "side by side"


def test_help_names_the_profiles_that_play_on_fewer_devices():
    done = subprocess.run([sys.executable, "-m", "core.stereo", "--help"], capture_output=True, text=True)
    text = " ".join(done.stdout.split())
    assert "High 4:4:4" in text and "High 10" in text and "Main10" in text
