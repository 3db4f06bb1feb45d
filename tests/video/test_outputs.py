"""Outputs read back with tools the project does not use itself (Debian's ffprobe, mkvinfo): stream tags,
dispositions, chapters, subtitle timing, start offsets, HDR side data, codec tags, codec/container checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.video import EncodeSettings, VideoWriter, probe, read_frames
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
