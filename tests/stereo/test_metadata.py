"""Stereo signalling read back by independent readers (Debian's ffprobe, mkvinfo) and PyAV: H.264 SEI, MP4 st3d
for every codec, Matroska StereoMode / Projection / display size, and the file-name tokens players look for."""

import re
from pathlib import Path

import av
import numpy as np
import pytest

from core.stereo.convert import default_output
from core.stereo.layouts import LAYOUT_SPECS, LAYOUTS, Packer
from core.stereo.metadata import stereo_settings
from core.video import EncodeSettings, SegmentedWriter, read_frames
from tests import media_tools as mt

AV_STEREO3D_SIDEBYSIDE, AV_STEREO3D_TOPBOTTOM = 1, 2
W, H = 64, 48  # one eye (4:3)


def _write(path: Path, layout: str, codec: str = "h264", frames: int = 4) -> Path:
    """Pack ``frames`` grey pairs of 64x48 eyes in ``layout`` and write them as the stereo job does."""
    size = Packer(layout, W, H, hfov_deg=90, eye_size=64).size
    settings = stereo_settings(layout, EncodeSettings(codec=codec, preset="ultrafast"), path.suffix, size)
    with SegmentedWriter(path, *size, 30, settings, segment_frames=2) as w:
        for i in range(frames):
            w.write(np.full((size[1], size[0], 3), 40 * i, np.uint8))
    return path


def _frame_packing(path):
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        sd = [s for s in frame.side_data if s.type == av.sidedata.sidedata.Type.STEREO3D]
        return int.from_bytes(bytes(sd[0])[:4], "little") if sd else None


def _stereo_side_data(path: Path) -> dict | None:
    video = [s for s in mt.streams(path) if s["codec_type"] == "video"][0]
    return next((d for d in video.get("side_data_list", []) if d["side_data_type"] == "Stereo 3D"), None)


@pytest.mark.parametrize("layout, expected", [("sbs_half", AV_STEREO3D_SIDEBYSIDE), ("tb_full", AV_STEREO3D_TOPBOTTOM),
                                              ("anaglyph", None)])
def test_h264_frame_packing_sei(tmp_path, layout, expected):
    assert _frame_packing(_write(tmp_path / "a.mp4", layout)) == expected


def test_user_x264_params_are_kept():
    s = stereo_settings("sbs_full", EncodeSettings(codec_options={"x264-params": "keyint=30"}), ".mp4")
    assert s.codec_options["x264-params"] == "keyint=30:frame-packing=3"


@pytest.mark.parametrize("codec", ["h264", "h265"])
@pytest.mark.parametrize("layout, kind", [("sbs_full", "side by side"), ("tb_half", "top and bottom")])
@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_mp4_and_mov_carry_st3d_whatever_the_codec(tmp_path, codec, layout, kind, suffix):
    out = _write(tmp_path / f"s{suffix}", layout, codec)
    found = _stereo_side_data(out)
    assert found is not None and found["type"] == kind


@pytest.mark.parametrize("layout", ["cross", "anaglyph"])
def test_no_mp4_stereo_signal_where_st3d_cannot_say_it(tmp_path, layout):
    assert _stereo_side_data(_write(tmp_path / "s.mp4", layout)) is None


@pytest.mark.parametrize("layout", LAYOUTS)
def test_matroska_stereo_mode(tmp_path, layout):
    path = _write(tmp_path / "a.mkv", layout)
    with av.open(str(path)) as c:
        assert c.streams.video[0].metadata["stereo_mode"] == LAYOUT_SPECS[layout].matroska
    names = {"left_right": "side by side (left first)", "top_bottom": "top bottom (left first)",
             "right_left": "side by side (right first)", "anaglyph_cyan_red": "anaglyph (cyan/red)"}
    assert mt.mkv_tracks(path)[0]["Stereo mode"].split(" ", 1)[1][1:-1] == names[LAYOUT_SPECS[layout].matroska]


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_vr180_matroska_has_an_equirectangular_projection(tmp_path, codec):
    track = mt.mkv_tracks(_write(tmp_path / "vr.mkv", "vr180", codec))[0]
    assert track["Projection type"].startswith("1")  # 1 = equirectangular
    assert track["Stereo mode"].startswith("1")  # side by side, left first


@pytest.mark.parametrize("layout", ["sbs_half", "tb_half", "sbs_full", "tb_full"])
def test_matroska_declares_each_eye_at_4_3(tmp_path, layout):
    track = mt.mkv_tracks(_write(tmp_path / "a.mkv", layout))[0]
    width = int(track.get("Display width", track["Pixel width"]))
    height = int(track.get("Display height", track["Pixel height"]))
    # the display size is one eye's (MediaInfo and FFmpeg halve a full frame for side by side / top-bottom)
    if "Display width" not in track:
        packed = Packer(layout, W, H).size
        width, height = (packed[0] // 2, packed[1]) if "sbs" in layout else (packed[0], packed[1] // 2)
    assert width / height == pytest.approx(W / H)


# Kodi's default stereoscopic file-name rules (advancedsettings.xml: stereoscopicregex3d / sbs / tab)
_KODI_3D = re.compile(r"[-. _]3d[-. _]", re.I)
_KODI_SBS = re.compile(r"[-. _]h?sbs[-. _]", re.I)
_KODI_TAB = re.compile(r"[-. _]h?tab[-. _]", re.I)


@pytest.mark.parametrize("layout, mode", [("sbs_full", "sbs"), ("sbs_half", "sbs"), ("tb_full", "tab"),
                                          ("tb_half", "tab"), ("cross", None), ("anaglyph", None), ("vr180", None)])
def test_file_names_carry_the_tokens_kodi_looks_for(layout, mode):
    name = default_output(Path("/videos/clip.mp4"), layout).name
    assert bool(_KODI_3D.search(name)) == (mode is not None)
    assert bool(_KODI_SBS.search(name)) == (mode == "sbs")
    assert bool(_KODI_TAB.search(name)) == (mode == "tab")
    half = LAYOUT_SPECS[layout].half
    assert (("_HSBS_" in name) or ("_HTAB_" in name)) == half


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize("layout, order", [("cross", "right_left"), ("sbs_full", "left_right")])
def test_h264_sei_says_which_eye_comes_first(tmp_path, suffix, layout, order):
    out = _write(tmp_path / f"a{suffix}", layout)
    frames = mt.ffprobe(out, "-select_streams", "v:0", "-show_frames", "-show_entries", "frame_tags=stereo_mode")
    # Debian's FFmpeg names the frame-packing SEI of each decoded frame (content interpretation 1 or 2)
    assert {f.get("tags", {}).get("stereo_mode") for f in frames["frames"]} == {order}
    assert [float(f.image.mean()) for f in read_frames(out)] == pytest.approx([0, 40, 80, 120], abs=2)
