"""Outputs read back with tools the project does not use itself (Debian's ffprobe, mkvinfo): stream tags,
dispositions, chapters, subtitle timing, start offsets, HDR side data, codec tags, codec/container checks."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from core.video import EncodeSettings, VideoWriter, probe
from tests import media_tools as mt

FAST = ["--preset", "ultrafast"]


def _transcode(src: Path, dst: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "core.video", "transcode", str(src), str(dst), *FAST, *args]
    return subprocess.run(cmd, capture_output=True, text=True)


def _ok(src: Path, dst: Path, *args: str) -> str:
    done = _transcode(src, dst, *args)
    assert done.returncode == 0, done.stderr
    return done.stderr


def _by_type(path: Path, kind: str) -> list[dict]:
    return [s for s in mt.streams(path) if s["codec_type"] == kind and s.get("codec_name") != "bin_data"]


# ---- 1. stream metadata and chapters ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_languages_titles_flags_and_chapters_are_kept(tracks_mkv, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    _ok(tracks_mkv, out)
    audio = _by_type(out, "audio")
    title_key = "title" if suffix == ".mkv" else "handler_name"
    assert [(a["tags"]["language"], a["tags"][title_key]) for a in audio] == [("eng", "English main"), ("deu", "Deutsch")]
    assert [(a["disposition"]["default"], a["disposition"]["forced"]) for a in audio] == [(0, 0), (1, 1)]
    subs = [s for s in _by_type(out, "subtitle") if s["tags"].get("language") == "fra"]
    assert len(subs) == 1 and subs[0]["disposition"]["forced"] == 1
    assert _by_type(out, "video")[0]["disposition"]["default"] == 1
    got = mt.chapters(out)
    assert [c[2] for c in got] == ["One", "Two"]
    assert got[0][0] == pytest.approx(0.0, abs=0.03) and got[1][0] == pytest.approx(1.0, abs=0.03)


def test_chapters_follow_a_trimmed_window(tracks_mkv, tmp_path):
    out = tmp_path / "cut.mkv"
    _ok(tracks_mkv, out, "--start", "0.5", "--end", "1.5")
    got = mt.chapters(out)
    assert [c[2] for c in got] == ["One", "Two"]
    assert got[0][:2] == pytest.approx((0.0, 0.5), abs=0.03) and got[1][:2] == pytest.approx((0.5, 1.0), abs=0.03)


def test_matroska_gets_a_default_audio_track(tmp_path):
    src = tmp_path / "nodefault.mkv"
    mt.ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=1", "-f", "lavfi", "-i", "sine=d=1",
              "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-disposition:a:0", "0", src)
    out = tmp_path / "out.mkv"
    _ok(src, out)
    assert _by_type(out, "audio")[0]["disposition"]["default"] == 1
    audio = [t for t in mt.mkv_tracks(out) if t["Track type"] == "audio"]
    assert len(audio) == 1 and '"Default track" flag' not in audio[0]  # absent = 1, Matroska's default


# ---- 2. subtitle timing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_subtitles_of_an_offset_input_keep_their_times(media_dir, tmp_path, suffix):
    src = mt.offset_input(tmp_path, suffix, "srt")
    out = tmp_path / f"out{suffix}"
    _ok(src, out)
    assert mt.flat(mt.subtitle_cues(out)) == pytest.approx(mt.flat([(0.2, 0.8), (1.0, 1.9)]), abs=0.011)


def test_start_keeps_the_cue_on_screen_and_end_clips_the_last(tmp_path):
    src = mt.offset_input(tmp_path, ".mp4", "srt")
    out = tmp_path / "cut.mp4"
    _ok(src, out, "--start", "0.5", "--end", "1.5")
    assert mt.flat(mt.subtitle_cues(out)) == pytest.approx(mt.flat([(0.0, 0.3), (0.5, 1.0)]), abs=0.011)


def test_ass_into_mp4_becomes_mov_text_with_a_warning(tmp_path):
    src = mt.ass_input(tmp_path)
    out = tmp_path / "out.mp4"
    log = _ok(src, out)
    assert "converting" in log and "mov_text" in log
    assert _by_type(out, "subtitle")[0]["codec_name"] == "mov_text"
    assert mt.flat(mt.subtitle_cues(out)) == pytest.approx(mt.flat([(0.2, 0.8), (1.0, 1.9)]), abs=0.011)
    text = (tmp_path / "out_cues.srt").read_text()
    assert "first\nline" in text and "{" not in text


# ---- 3. Matroska starting after 0 ----------------------------------------------------------------------------


def test_offset_matroska_is_not_refused_as_truncated(tmp_path):
    src = mt.offset_input(tmp_path, ".mkv", rate=30)
    info = probe(src)
    assert info.duration == pytest.approx(2.0, abs=0.05) and info.frame_count == 60
    out = tmp_path / "out.mkv"
    _ok(src, out)
    frames = mt.packets(out, "v")
    assert len(frames) == 60 and float(frames[0]["pts_time"]) == pytest.approx(0.0, abs=1e-3)


# ---- 4. HDR10 static metadata, HLG ----------------------------------------------------------------------------


def _mastering(side_data: list[dict]) -> dict | None:
    return next((s for s in side_data if s["side_data_type"] == "Mastering display metadata"), None)


def _light(side_data: list[dict]) -> dict | None:
    return next((s for s in side_data if s["side_data_type"] == "Content light level metadata"), None)


def _check_mastering(found: dict | None) -> None:
    assert found is not None
    values = [Fraction(found[k]) for k in ("red_x", "green_y", "blue_x", "white_point_x", "max_luminance", "min_luminance")]
    assert values == [Fraction(34000, 50000), Fraction(34500, 50000), Fraction(7500, 50000), Fraction(15635, 50000),
                      Fraction(1000), Fraction(50, 10000)]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_hdr10_metadata_reaches_every_frame_and_the_container(hdr10_mkv, tmp_path, suffix):
    out = tmp_path / f"hdr{suffix}"
    _ok(hdr10_mkv, out)  # default codec for a 10-bit source: H.265 Main10
    video = _by_type(out, "video")[0]
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("hevc", "Main 10", "yuv420p10le")
    assert (video["color_transfer"], video["color_primaries"]) == ("smpte2084", "bt2020")
    frames = mt.frame_side_data(out)
    assert len(frames) == 10
    for side_data in frames:
        _check_mastering(_mastering(side_data))
        assert (_light(side_data)["max_content"], _light(side_data)["max_average"]) == mt.MAX_CLL
    container = video.get("side_data_list", [])
    _check_mastering(_mastering(container))
    assert _light(container)["max_content"] == mt.MAX_CLL[0]
    if suffix == ".mkv":
        track = mt.mkv_tracks(out)[0]
        assert track["Maximum content light"] == "1000" and track["Maximum luminance"] == "1000"


def test_pq_to_8_bit_is_refused_before_anything_is_written(hdr10_mkv, tmp_path):
    out = tmp_path / "sdr.mp4"
    done = _transcode(hdr10_mkv, out, "--codec", "h264", "--pix-fmt", "yuv420p")
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "8-bit" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_hlg_keeps_its_transfer_and_ten_bits(hlg_mkv, tmp_path):
    out = tmp_path / "hlg.mp4"
    _ok(hlg_mkv, out)
    video = _by_type(out, "video")[0]
    assert (video["color_transfer"], video["pix_fmt"], video["codec_tag_string"]) == ("arib-std-b67", "yuv420p10le", "hvc1")
    assert _mastering(video.get("side_data_list", [])) is None  # HLG has no mastering metadata to invent


def test_hlg_to_8_bit_warns(hlg_mkv, tmp_path):
    log = _ok(hlg_mkv, tmp_path / "hlg8.mp4", "--codec", "h264")
    assert "HLG" in log and "8-bit" in log


# ---- 5. hvc1 ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_hevc_in_mp4_and_mov_is_tagged_hvc1(tracks_mkv, tmp_path, suffix):
    out = tmp_path / f"h265{suffix}"
    _ok(tracks_mkv, out, "--codec", "h265", "--no-audio", "--no-subtitles")
    assert _by_type(out, "video")[0]["codec_tag_string"] == "hvc1"


def test_video_writer_tags_hvc1_too(tmp_path):
    import numpy as np

    out = tmp_path / "w.mp4"
    with VideoWriter(out, 64, 48, 10, EncodeSettings(codec="h265", preset="ultrafast")) as w:
        for i in range(3):
            w.write(np.full((48, 64, 3), 50 * i, np.uint8))
    assert _by_type(out, "video")[0]["codec_tag_string"] == "hvc1"


# ---- 10. codec/container pairs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("codec, suffix", [("ffv1", ".mov"), ("prores", ".mp4"), ("ffv1", ".mp4")])
def test_codec_container_mismatch_is_refused_before_the_first_frame(tracks_mkv, tmp_path, codec, suffix):
    out = tmp_path / f"x{suffix}"
    done = _transcode(tracks_mkv, out, "--codec", codec)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert f"cannot hold {codec}" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no output, no .work folder


# ---- 11. ProRes colour in the bitstream ------------------------------------------------------------------------


def test_prores_frames_say_bt709_like_the_container(tracks_mkv, tmp_path):
    out = tmp_path / "p.mov"
    _ok(tracks_mkv, out, "--codec", "prores", "--no-audio", "--no-subtitles")
    frames = mt.ffprobe(out, "-select_streams", "v:0", "-show_frames",
                        "-show_entries", "frame=color_primaries,color_transfer,color_space")["frames"]
    assert frames and all((f["color_primaries"], f["color_transfer"], f["color_space"]) == ("bt709",) * 3 for f in frames)
    video = _by_type(out, "video")[0]
    assert (video["color_primaries"], video["color_transfer"]) == ("bt709", "bt709")


# ---- 12. defaults that play everywhere -------------------------------------------------------------------------


def test_default_is_8_bit_h264_high(tracks_mkv, tmp_path):
    out = tmp_path / "d.mp4"
    _ok(tracks_mkv, out, "--preset", "veryfast")  # ultrafast would drop to Constrained Baseline
    video = _by_type(out, "video")[0]
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("h264", "High", "yuv420p")


def test_ten_bit_h264_only_when_asked(hlg_mkv, tmp_path):
    out = tmp_path / "h10.mkv"
    _ok(hlg_mkv, out, "--codec", "h264", "--pix-fmt", "yuv420p10le", "--preset", "veryfast")
    assert _by_type(out, "video")[0]["profile"] == "High 10"
    plain = tmp_path / "h8.mkv"
    _ok(hlg_mkv, plain, "--codec", "h264", "--preset", "veryfast")
    assert _by_type(plain, "video")[0]["profile"] == "High"


def test_help_names_the_non_default_profiles():
    done = subprocess.run([sys.executable, "-m", "core.video", "transcode", "--help"], capture_output=True, text=True)
    assert "High 4:4:4" in done.stdout and "High 10" in done.stdout and "Main10" in done.stdout


# ---- variable frame rate keeps its times ------------------------------------------------------------------------


def test_variable_frame_rate_transcode_keeps_every_time(vfr_mp4, tmp_path):
    out = tmp_path / "vfr.mkv"
    _ok(vfr_mp4, out)
    before = sorted(float(p["pts_time"]) for p in mt.packets(vfr_mp4, "v"))
    after = sorted(float(p["pts_time"]) for p in mt.packets(out, "v"))
    assert after == pytest.approx([t - before[0] for t in before], abs=1e-3)
