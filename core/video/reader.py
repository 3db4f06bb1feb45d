"""``read_frames``: stream a video's frames as upright RGB arrays with their presentation times."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from core.video.container import average_rate, timeline_origin, open_input, stream_duration, video_stream
from core.video.convert import DTYPES, quarter_turns, to_rgb
from core.video.errors import CorruptVideoError, EmptyVideoError, TruncatedVideoError, VideoError

log = logging.getLogger(__name__)

DAMAGED_FRACTION = 0.01  # default share of frames that may be concealed after decode errors


@dataclass
class Frame:
    """One decoded frame.

    ``index``: 0-based position of the frame in the source (before any stride).
    ``pts``: presentation time in seconds from the start of the file.
    ``image``: ``(H, W, 3)`` RGB, uint8 0-255 or float32 0-1, upright (rotation applied).
    """

    index: int
    pts: float
    image: np.ndarray


def read_frames(
    path: str | os.PathLike[str],
    *,
    start: float | None = None,
    end: float | None = None,
    stride: int = 1,
    size: tuple[int, int] | None = None,
    dtype: str = "uint8",
    max_damaged: float | None = DAMAGED_FRACTION,
) -> Iterator[Frame]:
    """Decode the first video stream of ``path`` frame by frame, holding one frame at a time.

    Args:
        start: first time to deliver (s, inclusive); seeks to the key frame before it.
        end: time to stop at (s, exclusive).
        stride: deliver every ``stride``-th frame of the source (counted from the first frame delivered).
        size: ``(width, height)`` to resize to, after rotation (``None``: the display size).
        dtype: ``"uint8"`` or ``"float32"``.
        max_damaged: the share of frames (of the stream's length) that may be damaged by decode errors (the
            decoder conceals them: frames from an error to the next key frame); above it ``CorruptVideoError``
            is raised once the stream has been read; ``None`` never raises. Damaged frames are always reported with a warning naming them.

    Yields:
        ``Frame``s in presentation order, with their real timestamps (variable frame rate is kept).

    Raises:
        VideoError subclasses: unreadable file, not a video, no video stream, no frames (in the range),
        and ``TruncatedVideoError`` after the last decodable frame when the file is cut short or corrupt.
    """
    _check_args(start, end, stride, size, dtype)
    return _frames(path, start, end, stride, size, dtype, max_damaged)


def frame_times(path: str | os.PathLike[str], start: float | None = None, end: float | None = None) -> list[float]:
    """Presentation times (s, on ``Frame.pts``'s timeline) of every frame of the first video stream, in order,
    from the packet timestamps (a demux, no decoding); exact for variable frame rate. Streams without packet
    timestamps get times at the average rate. ``start``/``end`` (s): only the frames ``read_frames`` delivers
    for that window."""
    with open_input(path) as container:
        stream = video_stream(container)
        origin = timeline_origin(container)
        packets = [p.pts for p in container.demux(stream) if p.size > 0]
        if any(t is None for t in packets):
            step = 1.0 / float(average_rate(stream) or 25)
            times = [i * step for i in range(len(packets))]
            return [t for t in times if (start is None or t >= start) and (end is None or t < end)]
        begin_ts, end_ts = _ticks(start, origin, stream.time_base), _ticks(end, origin, stream.time_base)
        return [float(t * stream.time_base) - origin for t in sorted(packets)
                if (begin_ts is None or t >= begin_ts) and (end_ts is None or t < end_ts)]


def read_span(path: str | os.PathLike[str], times: Sequence[float], before: float | None = None,
              after: float | None = None, *, start: float | None = None, end: float | None = None,
              **options: Any) -> Iterator[Frame]:
    """The consecutive frames of ``path`` shown at ``times`` (pts, s, as ``frame_times`` or an earlier decode found
    them), decoded after a seek (``read_frames`` with ``options``): a worker's share of a video. ``before`` and
    ``after`` are the pts of the frames either side of ``times``, None where ``times`` begins or ends the window
    ``start`` .. ``end`` (s). ``VideoError`` when the decoder delivers other frames than those, or fewer or more
    (the file changed since its times were read)."""
    if not times:
        raise ValueError("read_span needs the times of at least one frame")
    begin = start if before is None else max(0.0, (before + times[0]) / 2)  # the reader delivers from times[0]
    stop = end if after is None else (times[-1] + after) / 2
    n = 0
    for n, frame in enumerate(read_frames(path, start=begin, end=stop, **options), start=1):
        if n > len(times) or abs(frame.pts - times[n - 1]) > 1e-6:
            want = f"{times[n - 1]:.6f} s" if n <= len(times) else "none"
            raise VideoError(f"{path}: frame {n} decoded from {times[0]:.3f} s has pts {frame.pts:.6f} s, where a "
                             f"demux found {want} (the video changed since?)")
        yield frame
    if n != len(times):
        raise VideoError(f"{path}: {n} frames decoded from {times[0]:.3f} s, where a demux found {len(times)} "
                         "(the video changed since?)")


def read_grey16(path: str | os.PathLike[str]) -> Iterator[tuple[float, np.ndarray]]:
    """Decode a single-channel video (e.g. FFV1 ``gray16le``, a depth video) losslessly: yields ``(pts s, uint16
    [H, W])`` per frame in presentation order; 8-bit grey is scaled to 16 bits (``v * 257``)."""
    with open_input(path) as container:
        stream = video_stream(container)
        origin = timeline_origin(container)
        try:
            for frame in _decode(container, stream):
                pts = float(frame.pts * stream.time_base) - origin if frame.pts is not None else math.nan
                yield pts, frame.to_ndarray(format="gray16le")
        except av.error.FFmpegError as exc:
            raise TruncatedVideoError(f"{container.name}: cannot decode the depth video ({exc.strerror})") from None


def _check_args(start, end, stride, size, dtype) -> None:
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"size must be (width, height) > 0, got {size}")
    if start is not None and end is not None and end <= start:
        raise ValueError(f"end ({end}) must be after start ({start})")


def _frames(path, start, end, stride, size, dtype, max_damaged) -> Iterator[Frame]:
    with open_input(path) as container, _DecodeErrors(container.name) as damage:
        stream = video_stream(container)
        damage.decoder = stream.codec_context.name
        # decoded in this thread only: while the decode errors are counted, PyAV's log callback is installed, and a
        # decoder thread logging through it while the container is freed (which holds the GIL) deadlocks
        stream.thread_type = "NONE"
        stream.codec_context.thread_count = 1
        origin = timeline_origin(container)
        tb = stream.time_base
        begin_ts = _ticks(start, origin, tb)
        end_ts = _ticks(end, origin, tb)
        first_index = 0
        if begin_ts is not None and start > 0:
            first_index = _seek(container, stream, begin_ts)
        count = first_index  # source index of the next frame at or after ``start``
        last_pts: float | None = None
        fallback_step = 1.0 / float(average_rate(stream) or 25)
        delivered = 0
        try:
            for frame in _decode(container, stream):
                if frame.pts is not None:
                    ts, pts = frame.pts, float(frame.pts * tb) - origin
                else:  # no timestamps (raw elementary stream): assume a constant rate
                    pts = 0.0 if last_pts is None else last_pts + fallback_step
                    ts = round((pts + origin) / tb)
                if begin_ts is not None and ts < begin_ts:
                    continue
                if end_ts is not None and ts >= end_ts:
                    break
                index = count
                count += 1
                last_pts = pts
                damage.frame(index, frame.key_frame)
                if (index - first_index) % stride:
                    continue
                turns = quarter_turns(frame.rotation)
                delivered += 1
                yield Frame(index, pts, to_rgb(frame, turns=turns, size=size, dtype=dtype))
        except av.error.FFmpegError as exc:
            raise _truncated(container.name, count, last_pts, exc.strerror) from None
        if delivered == 0:
            where = "" if start is None and end is None else f" between {start or 0:.3f}s and {end or 'the end'}s"
            raise EmptyVideoError(f"{container.name}: no video frames{where}")
        if end is None:
            _check_complete(container, stream, count, last_pts, origin)
        if max_damaged is not None:  # after the truncation checks: a cut file says so rather than "corrupt"
            damage.check(max(1, int(max_damaged * max(stream.frames, count))))


def _ticks(seconds: float | None, origin: float, tb) -> int | None:
    """``seconds`` from the start of the file as a timestamp of the stream (rounded up to a whole tick)."""
    if seconds is None:
        return None
    return math.ceil((seconds + origin) / tb - 1e-6)


def _decode(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[av.VideoFrame]:
    """Decode every frame; packets without a dts are fed to the decoder too (else the last frames are lost)."""
    for packet in container.demux(stream):
        yield from packet.decode()


def _seek(container: av.container.InputContainer, stream: av.video.stream.VideoStream, target: int) -> int:
    """Seek so that decoding starts at or before ``target`` (stream time base); return the source index of the
    first frame at or after ``target``, counted from the packet timestamps before it (a demux, no decoding).

    Without packet timestamps (raw elementary streams) nothing is seeked and 0 is returned: decoding from the start
    then counts the frames itself.
    """
    before = 0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if packet.pts is None:
            container.seek(0)
            return 0
        if packet.dts is not None and packet.dts > target:
            break  # every later packet has pts >= dts > target
        before += packet.pts < target
    container.seek(target, stream=stream, backward=True, any_frame=False)
    return before


def _truncated(name: str, count: int, last_pts: float | None, reason: str | None) -> TruncatedVideoError:
    where = f"after frame {count - 1} (t={last_pts:.3f}s)" if count and last_pts is not None else "before the first frame"
    return TruncatedVideoError(f"{name}: corrupt or truncated, decoding stopped {where}: {reason}", count, last_pts)


def _check_complete(container, stream, count: int, last_pts: float | None, origin: float) -> None:
    """Raise ``TruncatedVideoError`` when the stream ended well before the length its header announces."""
    rate = average_rate(stream)
    period = 1.0 / float(rate) if rate else 0.04
    expected = stream.frames
    announced = stream_duration(stream, container, include_container=False)
    if announced is not None and stream.start_time is not None:
        announced += float(stream.start_time * stream.time_base) - origin
    short_count = expected > 0 and count < expected
    short_time = announced is not None and last_pts is not None and last_pts + period < announced - 2.5 * period
    if short_count and (announced is None or short_time) or (expected == 0 and short_time):
        total = f"{expected} frames" if expected else f"{announced:.3f}s"
        raise TruncatedVideoError(
            f"{container.name}: truncated, the file ends after frame {count - 1} "
            f"(t={last_pts:.3f}s) of {total}",
            count,
            last_pts,
        )


class _DecodeErrors(logging.Handler):
    """Counts the decoder's error messages while a video is read (FFmpeg reports concealed errors only in its
    log) and tracks the frames they damage: from the frame an error shows up at to the next key frame."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.ERROR)
        self.name_, self.errors, self._seen = name, 0, 0
        self.decoder = ""  # the decoder's name: only its messages count (writers log under their encoder's)
        self.damaged: list[list[int]] = []  # [first, last] source indices
        self._open = False

    def __enter__(self) -> _DecodeErrors:
        self._logger = logging.getLogger("libav")
        self._saved = (av.logging.get_level(), self._logger.propagate)
        if self._saved[0] is None or self._saved[0] < av.logging.ERROR:
            av.logging.set_level(av.logging.ERROR)
        self._logger.propagate = False  # counted and summarised here, not printed line by line
        self._logger.addHandler(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._logger.removeHandler(self)
        self._logger.propagate = self._saved[1]
        av.logging.set_level(self._saved[0])  # (no decoder thread can be inside the callback: see _frames)
        if self.damaged and exc_type is not CorruptVideoError:  # (the error names the frames itself)
            log.warning("%s: %d decode errors damaged %d frames (%s); the decoder concealed them", self.name_,
                        self.errors, self.count, self.ranges())

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == f"libav.{self.decoder}":
            self.errors += 1

    @property
    def count(self) -> int:
        return sum(b - a + 1 for a, b in self.damaged)

    def ranges(self) -> str:
        return ", ".join(f"frame {a}" if a == b else f"frames {a}-{b}" for a, b in self.damaged)

    def frame(self, index: int, key_frame: bool) -> None:
        """Account for the delivered frame ``index``."""
        if self.errors > self._seen:
            self._seen = self.errors
            if not (self._open and self.damaged[-1][1] == index - 1):
                self.damaged.append([index, index])
            self._open = True
        elif key_frame:
            self._open = False
        if self._open:
            self.damaged[-1][1] = index

    def check(self, limit: int) -> None:
        """Raise ``CorruptVideoError`` when more than ``limit`` frames were damaged."""
        if self.count > limit:
            raise CorruptVideoError(
                f"{self.name_}: corrupt: decode errors damaged {self.count} frames ({self.ranges()}); "
                "--ignore-decode-errors converts it anyway"
            )
