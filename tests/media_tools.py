"""Independent readers and ffmpeg-made inputs for the output tests.

The readers are Debian's ``ffprobe`` and ``mkvinfo`` (mkvtoolnix), which share no code path with the PyAV writer
under test beyond libavformat for ffprobe (a separate build, Debian's FFmpeg, not PyAV's). Each test that needs one
skips with the reason when it is not installed (``apt-get install ffmpeg mkvtoolnix``; setup.sh does it as root).
Inputs are written by the ``ffmpeg`` command line, tiny (64x48, 1-2 s).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SRT = """1
00:00:00,200 --> 00:00:00,800
first

2
00:00:01,000 --> 00:00:01,900
second
"""

ASS = r"""[Script Info]
ScriptType: v4.00+
PlayResX: 64
PlayResY: 48

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.20,0:00:00.80,Default,,0,0,0,,{\i1}first{\i0}\Nline
Dialogue: 0,0:00:01.00,0:00:01.90,Default,,0,0,0,,second
"""

CHAPTERS = """;FFMETADATA1
[CHAPTER]
TIMEBASE=1/1000
START=0
END=1000
title=One
[CHAPTER]
TIMEBASE=1/1000
START=1000
END=2000
title=Two
"""

# HDR10 static metadata of the test source: display primaries (x, y) in 1/50000, luminance in 1/10000 cd/m2
MASTER_DISPLAY = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
MAX_CLL = (1000, 400)


def tool(name: str) -> str:
    """Path of an external reader, or skip the test saying how to get it."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install {'mkvtoolnix' if name.startswith('mkv') else 'ffmpeg'})")
    return found


def ffmpeg(*args: str | Path) -> None:
    """Run the ffmpeg command line (quiet, overwrite) and fail the test with its message when it fails."""
    cmd = [tool("ffmpeg"), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def ffprobe(path: Path, *args: str) -> dict[str, Any]:
    """``ffprobe -of json`` of ``path`` with the given ``-show_*`` options."""
    cmd = [tool("ffprobe"), "-v", "error", "-of", "json", *args, str(path)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def streams(path: Path) -> list[dict[str, Any]]:
    """ffprobe's streams of ``path`` (tags, dispositions, codec tags, side data)."""
    return ffprobe(path, "-show_streams")["streams"]


def chapters(path: Path) -> list[tuple[float, float, str]]:
    """(start s, end s, title) of each chapter, as ffprobe reads them."""
    return [
        (float(c["start_time"]), float(c["end_time"]), c.get("tags", {}).get("title", ""))
        for c in ffprobe(path, "-show_chapters")["chapters"]
    ]


def packets(path: Path, kind: str) -> list[dict[str, Any]]:
    """ffprobe's packets of the first ``kind`` ("v", "a", "s") stream, with their data for subtitles."""
    extra = ["-show_data"] if kind == "s" else []
    return ffprobe(path, "-select_streams", f"{kind}:0", "-show_packets", *extra)["packets"]


def frame_side_data(path: Path) -> list[list[dict[str, Any]]]:
    """The side data list of every video frame, as ffprobe decodes them."""
    frames = ffprobe(path, "-select_streams", "v:0", "-show_frames", "-show_entries", "frame=side_data_list")
    return [f.get("side_data_list", []) for f in frames["frames"]]


def mkvinfo(path: Path) -> str:
    """``mkvinfo``'s element tree of a Matroska file."""
    return subprocess.run([tool("mkvinfo"), str(path)], capture_output=True, text=True, check=True).stdout


def mkv_tracks(path: Path) -> list[dict[str, str]]:
    """Each Matroska track as mkvinfo prints it: ``{"Track type": "audio", "Name": ..., "Language": ...,
    '"Default track" flag': "0", "Stereo mode": ..., "Display width": ..., "Projection type": ...}``; elements
    left at their default value (such as the default flag 1) are absent, as in the file."""
    tracks: list[dict[str, str]] = []
    for line in mkvinfo(path).splitlines():
        item = line.lstrip("| ")
        if item == "+ Track":
            tracks.append({})
        elif tracks and item.startswith("+ ") and ": " in item and not line.startswith("|+"):
            key, _, value = item[2:].partition(": ")
            tracks[-1].setdefault(key, value)
        elif line.startswith("|+") and tracks and item != "+ Tracks":
            break
    return tracks


def flat(pairs: list[tuple[float, ...]]) -> list[float]:
    """``[(a, b), (c, d)]`` as ``[a, b, c, d]`` (for ``pytest.approx``)."""
    return [v for pair in pairs for v in pair]


def subtitle_cues(path: Path) -> list[tuple[float, float]]:
    """(start s, end s) of every non-empty subtitle cue, with Debian's ffmpeg converting the track to SubRip."""
    out = path.with_name(path.stem + "_cues.srt")
    ffmpeg("-i", path, "-map", "0:s:0", "-c:s", "srt", out)
    cues = []
    for block in out.read_text().strip().split("\n\n"):
        lines = block.splitlines()
        if len(lines) >= 3 and lines[2].strip():
            begin, end = (_srt_time(t) for t in lines[1].split(" --> "))
            cues.append((begin, end))
    return cues


def _srt_time(text: str) -> float:
    hms, ms = text.strip().split(",")
    h, m, s = (int(v) for v in hms.split(":"))
    return h * 3600 + m * 60 + s + int(ms) / 1000


def tracks_input(folder: Path, suffix: str = ".mkv") -> Path:
    """2 s, 10 fps: two audio tracks (eng "English main"; deu "Deutsch" default+forced), an SRT subtitle track
    (fra "Français", forced) and two chapters (One 0-1 s, Two 1-2 s)."""
    (folder / "chapters.txt").write_text(CHAPTERS)
    (folder / "subs.srt").write_text(SRT)
    path = folder / f"tracks{suffix}"
    subtitle = "srt" if suffix == ".mkv" else "mov_text"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=2", "-f", "lavfi", "-i", "sine=f=440:d=2",
        "-f", "lavfi", "-i", "sine=f=660:d=2", "-i", folder / "subs.srt", "-i", folder / "chapters.txt",
        "-map", "0", "-map", "1", "-map", "2", "-map", "3", "-map_chapters", "4",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-c:s", subtitle,
        "-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "title=English main", "-disposition:a:0", "0",
        "-metadata:s:a:1", "language=deu", "-metadata:s:a:1", "title=Deutsch", "-disposition:a:1", "default+forced",
        "-metadata:s:s:0", "language=fra", "-metadata:s:s:0", "title=Français", "-disposition:s:0", "forced",
        path,
    )
    return path


def offset_input(folder: Path, suffix: str, subtitles: str | None = None, rate: int = 10) -> Path:
    """2 s of video whose timestamps start at 1.5 s (``-output_ts_offset``), with ``subtitles`` ("srt"/"ass")
    cues at 0.2-0.8 s and 1.0-1.9 s of the video."""
    path = folder / f"offset_{subtitles or 'none'}{suffix}"
    inputs = ["-f", "lavfi", "-i", f"testsrc2=s=64x48:r={rate}:d=2"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast"]
    if subtitles is not None:
        text = folder / f"subs.{subtitles}"
        text.write_text(SRT if subtitles == "srt" else ASS)
        inputs += ["-i", text]
        codecs += ["-c:s", "mov_text" if suffix == ".mp4" else subtitles]
    ffmpeg(*inputs, *codecs, "-output_ts_offset", "1.5", path)
    return path


def ass_input(folder: Path) -> Path:
    """2 s Matroska with an ASS subtitle track (styled cues at 0.2-0.8 s and 1.0-1.9 s)."""
    (folder / "subs.ass").write_text(ASS)
    path = folder / "styled.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=2", "-i", folder / "subs.ass",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:s", "ass", path)
    return path


def hdr10_input(folder: Path) -> Path:
    """1 s 10-bit H.265 PQ / BT.2020 with mastering display and content light level SEI on its key frames."""
    path = folder / "hdr10.mkv"
    cll = f"{MAX_CLL[0]},{MAX_CLL[1]}"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=1", "-c:v", "libx265", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p10le", "-color_primaries", "bt2020", "-color_trc", "smpte2084",
           "-colorspace", "bt2020nc", "-color_range", "tv",
           "-x265-params", f"log-level=error:hdr10=1:repeat-headers=1:master-display={MASTER_DISPLAY}:max-cll={cll}",
           path)
    return path


def hlg_input(folder: Path) -> Path:
    """1 s 10-bit H.265 HLG / BT.2020."""
    path = folder / "hlg.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=1", "-c:v", "libx265", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p10le", "-color_primaries", "bt2020", "-color_trc", "arib-std-b67",
           "-colorspace", "bt2020nc", "-color_range", "tv", "-x265-params", "log-level=error", path)
    return path


def vfr_input(folder: Path) -> Path:
    """Variable frame rate MP4: 12 frames at uneven times (0, 0.1, 0.3, 0.35, ...)."""
    path = folder / "vfr.mp4"
    times = [0.0, 0.1, 0.3, 0.35, 0.5, 0.8, 0.9, 1.0, 1.3, 1.35, 1.6, 2.0]
    concat = folder / "vfr.txt"
    lines = ["ffconcat version 1.0"]
    for i, t in enumerate(times):
        still = folder / f"vfr_{i:02d}.png"
        ffmpeg("-f", "lavfi", "-i", f"color=c=0x{20 * i:02x}{20 * i:02x}{20 * i:02x}:s=64x48:d=0.04", "-frames:v", "1", still)
        lines += [f"file '{still.name}'", f"duration {(times[i + 1] - t) if i + 1 < len(times) else 0.1:.3f}"]
    concat.write_text("\n".join(lines) + "\n")
    ffmpeg("-f", "concat", "-i", concat, "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast",
           "-video_track_timescale", "1000", path)
    return path
