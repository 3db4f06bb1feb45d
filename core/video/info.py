"""``probe``: what a video file holds (size, rate, frame count, rotation, format, colour, other streams)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from core.video.container import average_rate, open_input, stream_duration, video_stream
from core.video.convert import bit_depth, has_alpha, quarter_turns
from core.video.errors import EmptyVideoError, NotAVideoError
from core.video.hdr import HdrMetadata


@dataclass(frozen=True)
class ColorInfo:
    """Colour description of a stream as FFmpeg ``AVColor*`` codes (1 = BT.709, 2 = unspecified, ...).

    ``range`` is 0 (unspecified), 1 (limited/"tv") or 2 (full/"pc").
    """

    primaries: int = 2
    transfer: int = 2
    matrix: int = 2
    range: int = 0

    @classmethod
    def from_frame(cls, frame: av.VideoFrame) -> ColorInfo:
        """The colour tags of a decoded frame."""
        return cls(int(frame.color_primaries), int(frame.color_trc), int(frame.colorspace), int(frame.color_range))

    @property
    def specified(self) -> bool:
        """Whether any of the four tags is set."""
        return self != ColorInfo()


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` found. ``width``/``height`` are the display size (after rotation), in pixels; ``hdr``: the
    HDR10 mastering display / content light level of the first frame (None when it has none)."""

    path: Path
    width: int
    height: int
    fps: float
    rate: Fraction
    time_base: Fraction
    frame_count: int
    frame_count_exact: bool
    duration: float
    rotation: int
    pix_fmt: str
    bit_depth: int
    has_alpha: bool
    color: ColorInfo
    codec: str
    audio_streams: int
    subtitle_streams: int
    hdr: HdrMetadata | None = None


def probe(path: str | os.PathLike[str], *, count_frames: bool = False) -> VideoInfo:
    """Describe the first video stream of ``path``, decoding only its first frame.

    ``frame_count`` is exact when the container stores it (MP4, MOV); otherwise it is estimated from
    duration x fps (``frame_count_exact=False``), unless ``count_frames`` asks to count the packets (reads the
    whole file, no decoding). ``rotation`` is the display matrix's counter-clockwise angle in degrees, in
    (-180, 180]; ``read_frames`` applies it.
    """
    with open_input(path) as container:
        stream = video_stream(container)
        first = _first_frame(container, stream)
        rate = average_rate(stream)
        duration = stream_duration(stream, container)
        frame_count, exact = _frame_count(container, stream, rate, duration, count_frames)
        if rate is None:
            rate = Fraction(frame_count) / Fraction(duration) if duration else Fraction(25)
        if duration is None:
            duration = float(frame_count / rate)
        rotation = -((180 - round(first.rotation)) % 360 - 180)  # in (-180, 180]
        turns = quarter_turns(rotation)
        width, height = (first.height, first.width) if turns % 2 else (first.width, first.height)
        return VideoInfo(
            path=Path(path),
            width=width,
            height=height,
            fps=float(rate),
            rate=rate,
            time_base=Fraction(stream.time_base),
            frame_count=frame_count,
            frame_count_exact=exact,
            duration=duration,
            rotation=rotation,
            pix_fmt=first.format.name,
            bit_depth=bit_depth(first.format.name),
            has_alpha=has_alpha(first.format.name),
            color=ColorInfo.from_frame(first),
            codec=stream.codec_context.name,
            audio_streams=len(container.streams.audio),
            subtitle_streams=len(container.streams.subtitles),
            hdr=HdrMetadata.from_frame(first),
        )


def _first_frame(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise NotAVideoError(f"{container.name}: the video stream cannot be decoded ({exc.strerror})") from None
    raise EmptyVideoError(f"{container.name}: the video stream has no frames")


def _frame_count(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    rate: Fraction | None,
    duration: float | None,
    count_frames: bool,
) -> tuple[int, bool]:
    if stream.frames > 0:
        return stream.frames, True
    if count_frames or rate is None or duration is None:
        with open_input(container.name) as again:
            count = sum(1 for packet in again.demux(again.streams[stream.index]) if packet.size > 0)
        return count, True
    return max(1, round(duration * rate)), False
