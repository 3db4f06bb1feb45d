"""Opening input files with PyAV and mapping FFmpeg's failures to one-line ``VideoError``s."""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.stream
import av.video.stream

from core.video.errors import NotAVideoError, NoVideoStreamError, VideoPathError

_DURATION_TAG = re.compile(r"^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")


def check_readable(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a ``Path`` after checking that it is an existing, readable file."""
    p = Path(path)
    if not p.exists():
        raise VideoPathError(f"{p}: no such file")
    if not p.is_file():
        raise VideoPathError(f"{p}: not a file")
    if not os.access(p, os.R_OK):
        raise VideoPathError(f"{p}: permission denied (cannot read)")
    return p


def open_input(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open a media file for reading; raise ``VideoPathError`` / ``NotAVideoError`` instead of FFmpeg errors."""
    p = check_readable(path)
    if p.stat().st_size == 0:
        raise NotAVideoError(f"{p}: not a video (the file is empty)")
    try:
        return av.open(str(p), mode="r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise NotAVideoError(f"{p}: not a video or cut short before its header ({reason})") from None


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The first real video stream of ``container`` (cover pictures excluded); ``NoVideoStreamError`` if none."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise NoVideoStreamError(f"{container.name}: no video stream (streams: {_stream_kinds(container)})")


def stream_duration(
    stream: av.stream.Stream, container: av.container.InputContainer, *, include_container: bool = True
) -> float | None:
    """Duration of ``stream`` in seconds: from its Matroska ``DURATION`` tag (Matroska reports the segment's
    duration for every stream), the stream, or (when ``include_container``) the container, which also covers
    the other streams."""
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        match = _DURATION_TAG.match(tag.strip())
        if match:
            h, m, s = match.groups()
            value = int(h) * 3600 + int(m) * 60 + float(s)
            return _matroska_duration(stream, container, value)
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if include_container and container.duration is not None and container.duration > 0:
        value = container.duration / av.time_base
        return _matroska_duration(stream, container, value) if "matroska" in container.format.name else value
    return None


def _matroska_duration(stream: av.stream.Stream, container: av.container.InputContainer, value: float) -> float:
    """The real duration (s) behind a Matroska ``DURATION`` tag of ``value`` s.

    Muxers disagree when the timestamps start after 0: mkvmerge writes the duration, FFmpeg the end time (start +
    duration). For such a file the last packets decide: the stream ends where its last packet ends.
    """
    if stream.start_time is None or stream.time_base is None or stream.start_time <= 0:
        return value
    start = float(stream.start_time * stream.time_base)
    end = last_packet_end(container.name, stream.index, seek_to=value)
    return value if end is None else min(value, end - start)


def last_packet_end(path: str, index: int, *, seek_to: float) -> float | None:
    """Where (s, container timeline) the last packet of stream ``index`` of ``path`` ends, reading only from the
    key frame before ``seek_to`` (s) on; None when no packet is found there."""
    with av.open(path, mode="r", metadata_errors="replace") as again:
        stream = again.streams[index]
        tb = stream.time_base
        try:
            again.seek(round(seek_to / tb), stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError:
            return None
        end = None
        for packet in again.demux(stream):
            if packet.pts is not None:
                t = float((packet.pts + (packet.duration or 0)) * tb)
                end = t if end is None else max(end, t)
        return end


def timeline_origin(container: av.container.InputContainer) -> float:
    """The time (s) that ``pts`` 0 stands for: the first video frame's presentation time (else the container's
    start). Every time this package reports or accepts is measured from it, for all streams alike."""
    stream = video_stream(container)
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return container.start_time / av.time_base if container.start_time is not None else 0.0


def average_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's average frame rate (frames per second) as a fraction, or ``None`` when unknown."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return None


def _stream_kinds(container: av.container.InputContainer) -> str:
    kinds = [s.type for s in container.streams]
    return ", ".join(kinds) if kinds else "none"
