"""Small real media files for the video tests, written directly with PyAV (independent of ``core.video``)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

MS = Fraction(1, 1000)


def level(i: int) -> int:
    """The grey level that marks frame ``i`` (distinct for i < 24 after lossy coding)."""
    return 30 + 8 * (i % 24)


def pattern(i: int, width: int, height: int, deep: bool = False) -> np.ndarray:
    """Frame ``i``: flat grey ``level(i)`` with a white 8x8 block in the top-left corner; (H, W, 3)."""
    image = np.full((height, width, 3), level(i), np.uint8)
    image[:8, :8] = 255
    return image.astype(np.uint16) * 257 if deep else image


def frame_level(image: np.ndarray) -> float:
    """The grey level of a decoded ``pattern`` frame (median away from the corner block), 0-255 scale."""
    h, w = image.shape[:2]
    value = float(np.median(image[h // 2 :, w // 2 :]))
    return value if image.dtype == np.uint8 else value * 255.0


def write_video(
    path: Path,
    *,
    frames: int = 20,
    size: tuple[int, int] = (64, 48),
    fps: int = 10,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts: Sequence[float] | None = None,
    rotation: int | None = None,
    audio: str | None = None,
    audio_seconds: float | None = None,
    subtitles: bool = False,
    color: dict[str, int] | None = None,
) -> Path:
    """Write a test clip: ``frames`` pattern frames at ``fps`` (or at the given ``pts``, s), optionally rotated,
    with a 440 Hz sine track in ``audio`` codec and two text subtitles (SubRip in .mkv, mov_text in .mp4/.mov)."""
    width, height = size
    deep = av.VideoFormat(pix_fmt).components[0].bits > 8
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.codec_context.time_base = MS
        if codec.startswith("libx26"):
            video.options = {"crf": "1", "preset": "ultrafast"}
            if codec == "libx265":
                video.options = {**video.options, "x265-params": "log-level=error"}
        for key, value in (color or {}).items():
            setattr(video.codec_context, key, value)
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound = _add_audio(out, audio) if audio else None
        subs = _add_subtitles(out, path.suffix) if subtitles else None
        times = list(pts) if pts is not None else [i / fps for i in range(frames)]
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(pattern(i, width, height, deep), format="rgb48le" if deep else "rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts, frame.time_base = round(t / MS), MS
            out.mux(video.encode(frame))
            if i == 0 and subs is not None:
                out.mux(subs)
        out.mux(video.encode(None))
        if sound is not None:
            seconds = audio_seconds if audio_seconds is not None else times[-1] + 1 / fps
            _write_sine(out, sound, seconds)
    return path


def _add_audio(out: av.container.OutputContainer, codec: str) -> av.audio.stream.AudioStream:
    stream = out.add_stream(codec, rate=48000)
    stream.layout = "mono"
    return stream


def _write_sine(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    total = round(seconds * 48000)
    t = np.arange(total) / 48000
    samples = (0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for k in range(0, total, 1024):
        block = samples[k : k + 1024][None, :]
        frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, k, Fraction(1, 48000)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


SUBTITLES = [(0.5, 1.2, "Hello"), (1.5, 2.5, "World")]


def _add_subtitles(out: av.container.OutputContainer, suffix: str) -> list[av.Packet]:
    codec = "subrip" if suffix == ".mkv" else "mov_text"
    stream = out.add_mux_stream(codec)
    stream.time_base = MS
    stream.metadata["language"] = "eng"
    packets = []
    for start, end, text in SUBTITLES:
        data = text.encode() if codec == "subrip" else struct.pack(">H", len(text)) + text.encode()
        packet = av.Packet(data)
        packet.pts = packet.dts = round(start / MS)
        packet.duration = round((end - start) / MS)
        packet.time_base, packet.stream = MS, stream
        packets.append(packet)
    return packets


def subtitle_texts(path: Path) -> list[tuple[float, str]]:
    """(start s, text) of every non-empty subtitle packet of ``path``."""
    found = []
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        name = stream.codec_context.name
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            data = bytes(packet)
            text = data[2 : 2 + struct.unpack(">H", data[:2])[0]] if name == "mov_text" else data
            if text:
                found.append((float(packet.pts * packet.time_base), text.decode()))
    return found


def stream_span(path: Path, kind: str) -> tuple[float, float, str]:
    """(first packet time s, last packet end s, codec) of the first ``kind`` stream of ``path``."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        first = last = None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t = float(packet.pts * packet.time_base)
            first = t if first is None else min(first, t)
            end = t + float((packet.duration or 0) * packet.time_base)
            last = end if last is None else max(last, end)
        return first, last, stream.codec_context.name
