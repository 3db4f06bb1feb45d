"""Live video: frames from a source that cannot seek (stdin, a pipe, a growing file, a v4l2 device, a URL), and a
writer whose output is playable while it is being written (a file, or a stream on stdout).

``LiveSource`` decodes frame by frame and stamps each frame with the moment it was decoded (for latency).
How a stream stops decides the exit status of the commands that read it:

* it **ended**: end of data at a clean boundary (a growing file that stopped growing for ``timeout`` s ends too);
* it **broke**: a read or decode error, a container cut inside a packet (truncated Matroska element, MPEG-TS not
  a whole number of 188-byte packets, a corrupt packet), or no data for ``timeout`` s from a pipe, device or URL
  (``SourceStalledError``). The frames decoded before are delivered first, then ``SourceBrokenError`` is raised.

A stream cut exactly at a packet boundary looks like its end: nothing in the bytes tells them apart.

``LiveWriter`` writes straight to its destination: Matroska and MPEG-TS as they are, MP4 fragmented, so whatever
was written is playable even if the process is killed; ``close()`` finalises it (also after an error).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import select
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import av.logging
import numpy as np

from core.video.container import average_rate
from core.video.convert import quarter_turns, to_rgb
from core.video.errors import EmptyVideoError, NoVideoStreamError, NotAVideoError, VideoError, VideoPathError
from core.video.reader import Frame
from core.video.writer import EncodeSettings, VideoWriter, _check_size, check_output_path, output_color

log = logging.getLogger(__name__)

STDIO = "-"
DEFAULT_TIMEOUT = 10.0  # seconds without data before a pipe, device or URL counts as stalled
_TS_PACKET = 188
_POLL = 0.05  # seconds between looks at a growing file
_TRUNCATION_HINTS = ("prematurely", "truncat", "invalid data", "corrupt", "error while decoding", "incomplete")
_STREAM_FORMATS = {".mkv": "matroska", ".webm": "matroska", ".ts": "mpegts", ".mp4": "mp4", ".mov": "mov"}


class SourceBrokenError(VideoError):
    """The live source broke off mid-stream (after ``frames`` frames were delivered)."""

    def __init__(self, message: str, frames: int) -> None:
        super().__init__(message)
        self.frames = frames


class SourceStalledError(SourceBrokenError):
    """The live source sent no data for longer than the timeout."""


class FrameSizeChangedError(SourceBrokenError):
    """A frame of another size than the first arrived (the stream cannot continue)."""


@dataclass
class LiveFrame(Frame):
    """A ``Frame`` with ``arrived``: ``time.monotonic()`` when it was decoded (s)."""

    arrived: float = 0.0


def is_live(source: str | os.PathLike[str]) -> bool:
    """True for sources only a live reader can read: ``-`` (stdin), a named pipe, a character device, a URL."""
    text = str(source)
    if text == STDIO or "://" in text:
        return True
    try:
        mode = os.stat(text).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


class _TimedReader(io.RawIOBase):
    """A pipe's file descriptor as a readable raw stream that ends after ``timeout`` s without data, setting
    ``stalled`` (an exception raised inside FFmpeg's read callback would be printed, not propagated). Counts the
    bytes read."""

    def __init__(self, fd: int, name: str, timeout: float) -> None:
        self.fd, self.name, self.timeout = fd, name, timeout
        self.bytes_read = 0
        self.stalled = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.stalled:
            return 0
        ready, _, _ = select.select([self.fd], [], [], self.timeout)
        if not ready:
            self.stalled = True
            return 0
        try:
            data = os.read(self.fd, len(buffer))
        except OSError:  # the pipe broke: the end of data, judged by what arrived
            return 0
        buffer[: len(data)] = data
        self.bytes_read += len(data)
        return len(data)


class _FollowReader(io.RawIOBase):
    """A file that is still being written, read as a stream: at its current end, waits for it to grow; it ends
    when it has not grown for ``timeout`` s."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self.name, self.timeout = str(path), timeout
        self.bytes_read = 0
        self.stalled = False  # a growing file that stops growing has ended

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        waited = 0.0
        while True:
            n = self.file.readinto(buffer)
            if n:
                self.bytes_read += n
                return n
            if waited >= self.timeout:
                return 0
            time.sleep(_POLL)
            waited += _POLL

    def close(self) -> None:
        self.file.close()
        super().close()


class LiveSource:
    """Decode a live source frame by frame (see the module docstring).

    ``source``: ``-`` (a container stream on stdin), a named pipe, a file that may still grow (``follow``), a v4l2
    device (``/dev/videoN``) or a URL FFmpeg opens. ``timeout``: seconds without data before the source counts as
    stalled (pipes, devices, URLs) or ended (a growing file). ``size``: ``(width, height)`` to resize frames to.
    Use as a context manager; ``width``/``height``/``rate`` are known once it is open.
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        size: tuple[int, int] | None = None,
        input_format: str | None = None,
    ) -> None:
        if timeout <= 0:
            raise VideoError(f"the timeout must be > 0 s, got {timeout}")
        self.source = str(source)
        self.timeout = timeout
        self.size = size
        self.input_format = input_format
        self.delivered = 0
        self._reader: io.RawIOBase | None = None
        self._container: av.container.InputContainer | None = None
        self._log_level = None
        self._capture: av.logging.Capture | None = None

    # -- opening ------------------------------------------------------------------------------------------------
    def __enter__(self) -> LiveSource:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Open the source and find its video stream (VideoError subclasses when it cannot)."""
        name = "stdin" if self.source == STDIO else self.source
        self._log_level = av.logging.get_level()
        av.logging.set_level(av.logging.WARNING)  # truncation is only reported in FFmpeg's log
        self._capture = av.logging.Capture(local=False)
        self._capture.__enter__()
        try:
            self.name = name
            self._container = self._open(name)
        except av.error.FFmpegError as exc:
            stalled = self._stalled()
            self.close()
            if stalled:
                raise SourceStalledError(f"{name}: no data for {self.timeout:g} s (--timeout)", 0) from None
            raise NotAVideoError(f"{name}: cannot open as a video stream ({exc.strerror})") from None
        except BaseException:
            self.close()
            raise
        if not self._container.streams.video:
            self.close()
            raise NoVideoStreamError(f"{name}: the stream holds no video")
        self.stream = self._container.streams.video[0]
        self.stream.thread_type = "SLICE"  # frame threading would hold frames back (latency)

    def _stalled(self) -> bool:
        return self._reader is not None and self._reader.stalled

    def _open(self, name: str) -> av.container.InputContainer:
        fmt = self.input_format
        if self.source == STDIO:
            self._reader = _TimedReader(sys.stdin.buffer.fileno(), name, self.timeout)
        elif "://" in self.source:
            pass  # a URL: FFmpeg's own protocols read it (timeout given to av.open below)
        elif not Path(self.source).exists():
            raise VideoPathError(f"{self.source}: no such file, pipe or device")
        elif stat.S_ISFIFO(os.stat(self.source).st_mode):
            fd = os.open(self.source, os.O_RDONLY)  # blocks until a writer opens the pipe
            self._reader = _TimedReader(fd, name, self.timeout)
        elif stat.S_ISREG(os.stat(self.source).st_mode):
            self._reader = _FollowReader(Path(self.source), self.timeout)
        # start from the first packets, do not wait to analyse seconds of stream (sizes come from decoded frames)
        options = {"analyzeduration": "0", "probesize": "32"}
        if self._reader is not None:
            return av.open(self._reader, format=fmt, options=options, timeout=self.timeout)
        if self.source.startswith("/dev/video") and fmt is None:
            fmt = "v4l2"
        return av.open(self.source, format=fmt, options=options, timeout=self.timeout)

    @property
    def rate(self) -> Fraction:
        """Nominal frame rate (30 when the stream does not say)."""
        return Fraction(average_rate(self.stream) or 30)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        if self._reader is not None:
            if isinstance(self._reader, _FollowReader) or self.source != STDIO:
                self._reader.close()
            self._reader = None
        if self._capture is not None:
            self._capture.__exit__(None, None, None)
            self._capture = None
            av.logging.set_level(self._log_level)

    # -- reading ------------------------------------------------------------------------------------------------
    def frames(self) -> Iterator[LiveFrame]:
        """Decoded frames in order, each stamped with its arrival time; raises ``SourceBrokenError`` (after the
        frames decoded before) when the stream broke off, ``EmptyVideoError`` when it held no frame."""
        origin: float | None = None
        first: tuple[int, int] | None = None  # (width, height) of the first frame as decoded
        try:
            for packet in self._container.demux(self.stream):
                if packet.is_corrupt:
                    raise SourceBrokenError(f"{self.name}: corrupt packet after frame {self.delivered}", self.delivered)
                for frame in packet.decode():
                    first = first or (frame.width, frame.height)
                    if (frame.width, frame.height) != first:
                        raise FrameSizeChangedError(
                            f"{self.name}: frame {self.delivered} is {frame.width}x{frame.height}, the stream "
                            f"started at {first[0]}x{first[1]}",
                            self.delivered,
                        )
                    pts = float(frame.pts * frame.time_base) if frame.pts is not None else None
                    if pts is None:
                        pts = self.delivered / float(self.rate)
                    origin = pts if origin is None else origin
                    image = to_rgb(frame, turns=quarter_turns(frame.rotation), size=self.size, dtype="uint8")
                    yield LiveFrame(self.delivered, pts - origin, image, arrived=time.monotonic())
                    self.delivered += 1
        except av.error.FFmpegError as exc:
            raise SourceBrokenError(
                f"{self.name}: the stream broke off after frame {self.delivered} ({exc.strerror})", self.delivered
            ) from None
        if self._stalled():
            where = f"after frame {self.delivered - 1}" if self.delivered else "before the first frame"
            raise SourceStalledError(f"{self.name}: no data for {self.timeout:g} s (--timeout) {where}", self.delivered)
        if self.delivered == 0:
            raise EmptyVideoError(f"{self.name}: no video frames")
        reason = self._truncation()
        if reason:
            raise SourceBrokenError(
                f"{self.name}: the stream broke off after frame {self.delivered - 1} ({reason})", self.delivered
            )

    def _truncation(self) -> str | None:
        """Why the stream's end looks cut short, or None for a clean end."""
        for _level, _name, message in self._capture.logs:
            if any(hint in message.lower() for hint in _TRUNCATION_HINTS):
                return message.strip()
        reader = self._reader
        if reader is not None and self._container.format.name == "mpegts" and reader.bytes_read % _TS_PACKET:
            return "MPEG-TS cut inside a packet"
        return None


class LiveWriter(VideoWriter):
    """A ``VideoWriter`` that writes straight to ``path`` (no temporary file), or to stdout for ``-``; the file is
    playable as it grows (Matroska/MPEG-TS natively, MP4 fragmented). ``close()`` finalises it, and leaving the
    with-block on an error finalises too (what was written stays playable). ``stream_format``: the container of a
    stdout stream (default Matroska)."""

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: float | Fraction,
                 settings: EncodeSettings | None = None, stream_format: str = "matroska") -> None:
        self.to_stdout = str(path) == STDIO
        settings = (settings or EncodeSettings()).resolved(8)
        if settings.codec in ("h264", "h265") and "tune" not in settings.codec_options:
            # no look-ahead or B-frame delay: each frame leaves the encoder as it goes in
            settings = dataclasses.replace(settings, codec_options={**settings.codec_options, "tune": "zerolatency"})
        super().__init__(Path(path), width, height, fps, settings)
        self.stream_format = stream_format
        self.temp_path = self.path  # written in place

    def open(self) -> None:
        if not self.to_stdout:
            check_output_path(self.path)
            self.settings.check_container(self.path)
        encoder, pix_fmt = self.settings.encoder()
        _check_size(self.path, self.width, self.height, pix_fmt)
        self.hdr = None
        options = {"flush_packets": "1", **self.settings.container_options}  # each packet out as it is made
        if self.to_stdout:
            fmt, target = self.stream_format, sys.stdout.buffer
        else:
            fmt, target = _STREAM_FORMATS.get(self.path.suffix.lower()), str(self.path)
        if fmt in ("mp4", "mov"):
            options.setdefault("movflags", "+frag_keyframe+empty_moov+default_base_moof")
        if fmt == "matroska":
            options.setdefault("cluster_time_limit", "0")  # one cluster per frame: nothing waits in the muxer
        color = output_color(pix_fmt, None)
        try:
            container = av.open(target, mode="w", format=fmt, options=options)
        except (av.error.FFmpegError, ValueError) as exc:
            raise VideoPathError(f"{self.path}: cannot write this file type ({exc})") from None
        self._container = container
        self._add_video(container, encoder, pix_fmt, color)

    def write(self, image: np.ndarray, pts: float | None = None) -> None:
        super().write(image, pts)
        if self.to_stdout:
            sys.stdout.buffer.flush()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Flush the encoder and write the container's trailer (nothing when no frame was written)."""
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            if self.frames_written:
                self._container = container
                self._mux(self._stream.encode(None))
                self._container = None
            container.close()
        except (av.error.FFmpegError, BrokenPipeError, OSError) as exc:
            log.warning("%s: could not finalise the output (%s)", self.path, exc)
        if self.to_stdout:
            try:
                sys.stdout.buffer.flush()
            except (BrokenPipeError, OSError):
                pass
        log.info("wrote %s (%d frames)", "stdout" if self.to_stdout else self.path, self.frames_written)

    def abort(self) -> None:
        self.close()
