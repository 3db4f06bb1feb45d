"""``VideoWriter``: stream RGB frames into a video file, keeping the source's audio, subtitles and colours."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.video.reformatter as reformatter
import numpy as np

from core.atomic import temp_path
from core.video.errors import EmptyVideoError, EncodeSettingsError, VideoPathError
from core.video.info import ColorInfo, probe
from core.video.remux import Remuxer

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 90000)  # exact for 24, 25, 30, 50, 60 and the NTSC 1000/1001 rates

_ENCODERS = {"h264": "libx264", "h265": "libx265", "ffv1": "ffv1", "prores": "prores_ks"}
_DEFAULT_PIX_FMT = {"h264": "yuv420p", "h265": "yuv420p", "ffv1": "yuv444p", "prores": "yuv422p10le"}
# "rgb24" asks for RGB coding; each encoder spells it its own way
_RGB = {"h264": ("libx264rgb", "rgb24"), "h265": ("libx265", "gbrp"), "ffv1": ("ffv1", "bgr0")}
_MATRIX = {
    1: reformatter.Colorspace.ITU709,
    4: reformatter.Colorspace.FCC,
    5: reformatter.Colorspace.ITU601,
    6: reformatter.Colorspace.ITU601,
    7: reformatter.Colorspace.SMPTE240M,
    9: reformatter.Colorspace.BT2020,
    10: reformatter.Colorspace.BT2020,
}
_BT709 = ColorInfo(primaries=1, transfer=1, matrix=1, range=1)


@dataclass
class EncodeSettings:
    """How to encode the video stream.

    ``codec``: "h264", "h265", "ffv1" (lossless) or "prores" (needs .mov/.mkv).
    ``crf``/``preset``: x264/x265 quality (lower crf = better) and speed.
    ``pix_fmt``: "yuv420p", "yuv444p", "yuv420p10le", "rgb24", ...; ``None`` = the codec's usual format
    (yuv420p for h264/h265, yuv444p for ffv1, yuv422p10le for prores).
    ``codec_options``: extra encoder options, e.g. ``{"x264-params": "frame-packing=3"}``.
    ``stream_metadata``: tags on the video stream, e.g. Matroska ``{"stereo_mode": "left_right"}``.
    ``container_options``: muxer options, e.g. ``{"strict": "unofficial"}`` or ``{"movflags": "+faststart"}``.
    """

    codec: str = "h264"
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str | None = None
    codec_options: dict[str, str] = field(default_factory=dict)
    stream_metadata: dict[str, str] = field(default_factory=dict)
    container_options: dict[str, str] = field(default_factory=dict)

    def encoder(self) -> tuple[str, str]:
        """``(FFmpeg encoder name, FFmpeg pixel format)`` for these settings."""
        if self.codec not in _ENCODERS:
            raise EncodeSettingsError(f"unknown codec {self.codec!r}; choose one of {', '.join(_ENCODERS)}")
        if self.pix_fmt in ("rgb", "rgb24"):
            if self.codec not in _RGB:
                raise EncodeSettingsError(f"{self.codec} cannot code RGB; choose h264, h265 or ffv1")
            return _RGB[self.codec]
        pix_fmt = self.pix_fmt or _DEFAULT_PIX_FMT[self.codec]
        name = _ENCODERS[self.codec]
        supported = [f.name for f in av.codec.Codec(name, "w").video_formats or ()]
        if pix_fmt not in supported:
            raise EncodeSettingsError(f"{self.codec} cannot encode {pix_fmt}; it takes {', '.join(supported)}")
        return name, pix_fmt


class VideoWriter:
    """Write frames to ``path`` through a temporary file that is renamed only once complete.

    ``fps`` is the nominal rate (frames/s); frames may carry their own ``pts`` (s) for variable frame rate.
    With ``source``, the source's audio and subtitle streams (trimmed to ``[start, end)``) and its colour tags
    are carried over; frame ``pts`` are then on the source's timeline and output time 0 is ``start``.
    ``post_process(temp_path)`` runs on the finished temporary file before the rename.

    Use as a context manager::

        with VideoWriter("out.mp4", w, h, info.rate, source="in.mp4") as out:
            for f in read_frames("in.mp4"):
                out.write(f.image, f.pts)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        fps: float | Fraction,
        settings: EncodeSettings | None = None,
        *,
        source: str | os.PathLike[str] | None = None,
        copy_audio: bool = True,
        copy_subtitles: bool = True,
        copy_color: bool = True,
        start: float | None = None,
        end: float | None = None,
        post_process: Callable[[Path], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.rate = _as_rate(fps)
        self.settings = settings or EncodeSettings()
        self.source = Path(source) if source is not None else None
        self.start = start or 0.0
        self._window = (start, end)
        self._copy = (copy_audio, copy_subtitles)
        self._copy_color = copy_color
        self._post_process = post_process
        self.temp_path = temp_path(self.path)
        self.frames_written = 0
        self._last_ticks: int | None = None
        self._last_dts: int | None = None
        self._container: av.container.OutputContainer | None = None
        self._remux: Remuxer | None = None

    def __enter__(self) -> VideoWriter:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        """Check the paths and settings, then open the temporary output file."""
        encoder, pix_fmt = self.settings.encoder()
        check_output_path(self.path, self.source)
        _check_size(self.path, self.width, self.height, pix_fmt)
        color = self._color(pix_fmt)
        try:
            container = av.open(str(self.temp_path), mode="w", options=self.settings.container_options)
        except (av.error.FFmpegError, ValueError) as exc:
            raise VideoPathError(f"{self.path}: cannot write this file type ({exc})") from None
        self._container = container
        try:
            if _ENCODERS[self.settings.codec] not in container.supported_codecs:
                raise EncodeSettingsError(
                    f"{self.path}: a .{self.path.suffix.lstrip('.')} file cannot hold {self.settings.codec}; "
                    "use .mov or .mkv"
                )
            self._add_video(container, encoder, pix_fmt, color)
            if self.source is not None and any(self._copy):
                self._remux = Remuxer(
                    self.source,
                    container,
                    audio=self._copy[0],
                    subtitles=self._copy[1],
                    start=self._window[0],
                    end=self._window[1],
                )
        except BaseException:
            self.abort()
            raise

    def write(self, image: np.ndarray, pts: float | None = None) -> None:
        """Encode one ``(H, W, 3)`` RGB frame (uint8, or uint16 for deep formats) shown at ``pts`` (s).

        ``pts`` is on the source's timeline (as ``Frame.pts`` gives it); ``None`` places the frame one
        nominal frame period after the previous one. Times must increase.
        """
        if self._container is None:
            raise RuntimeError("VideoWriter.write() called outside its with-block")
        if image.shape != (self.height, self.width, 3) or image.dtype not in (np.uint8, np.uint16):
            raise ValueError(
                f"expected a ({self.height}, {self.width}, 3) uint8/uint16 image, got {image.shape} {image.dtype}"
            )
        if pts is None:
            ticks = round(self.frames_written / self.rate / TIME_BASE)
        else:
            ticks = round((pts - self.start) / TIME_BASE)
        if ticks < 0 or (self._last_ticks is not None and ticks <= self._last_ticks):
            raise ValueError(f"frame time {pts}s is before the previous frame or the writer's start")
        self._last_ticks = ticks
        frame = av.VideoFrame.from_ndarray(image, format="rgb24" if image.dtype == np.uint8 else "rgb48le")
        frame = frame.reformat(**self._frame_format)
        frame.pts = ticks
        frame.time_base = TIME_BASE
        self._mux(self._stream.encode(frame))
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder, finish the remux, run ``post_process`` and rename the file into place."""
        if self._container is None:
            return
        try:
            if self.frames_written == 0:
                raise EmptyVideoError(f"{self.path}: no frames were written")
            self._mux(self._stream.encode(None))
            if self._remux is not None:
                self._remux.finish()
            self._container.close()
            self._container = None
            if self._post_process is not None:
                self._post_process(self.temp_path)
            os.replace(self.temp_path, self.path)
        except BaseException:
            self.abort()
            raise
        log.info("wrote %s (%d frames)", self.path, self.frames_written)

    def abort(self) -> None:
        """Stop writing and remove the temporary file; the final path is left untouched."""
        if self._remux is not None:
            self._remux.close()
            self._remux = None
        if self._container is not None:
            try:
                self._container.close()
            except av.error.FFmpegError:
                pass
            self._container = None
        self.temp_path.unlink(missing_ok=True)

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self._repair_dts(packet)
            if self._remux is not None and packet.dts is not None:
                self._remux.feed_until(float(packet.dts * packet.time_base))
            self._container.mux(packet)

    def _repair_dts(self, packet: av.Packet) -> None:
        """Give an encoded packet a valid decode time where the encoder left it invalid.

        libx265 sometimes returns uninitialised decode times for the packets of a very short encode (1-2 frames)
        when the CPU is busy; the muxer then refuses the file. A valid dts is at most the pts and above the
        previous dts.
        """
        pts, dts, last = packet.pts, packet.dts, self._last_dts
        if pts is not None and (dts is None or dts > pts or (last is not None and dts <= last)):
            packet.dts = pts if last is None or pts > last else last + 1
        self._last_dts = packet.dts

    def _color(self, pix_fmt: str) -> ColorInfo:
        color = _BT709
        if self.source is not None and self._copy_color:
            found = probe(self.source).color
            if found.specified:
                color = found
        if av.VideoFormat(pix_fmt).is_rgb:
            return ColorInfo(color.primaries, color.transfer, matrix=0, range=2)
        return color

    def _add_video(self, container, encoder: str, pix_fmt: str, color: ColorInfo) -> None:
        """Add the video stream and set how frames are converted to its pixel format."""
        self._stream = self._add_video_stream(container, encoder, pix_fmt, color)
        self._frame_format = dict(
            format=pix_fmt, dst_colorspace=_MATRIX.get(color.matrix), dst_color_range=color.range or None
        )

    def _add_video_stream(self, container, encoder: str, pix_fmt: str, color: ColorInfo):
        stream = container.add_stream(encoder, rate=self.rate)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, pix_fmt
        ctx = stream.codec_context
        ctx.time_base = TIME_BASE
        ctx.color_primaries, ctx.color_trc = color.primaries, color.transfer
        ctx.colorspace, ctx.color_range = color.matrix, color.range
        options = {}
        if self.settings.codec in ("h264", "h265"):
            options = {"crf": str(self.settings.crf), "preset": self.settings.preset}
        if self.settings.codec == "h265":
            options["x265-params"] = "log-level=error"
        options.update(self.settings.codec_options)
        stream.options = options
        stream.metadata.update(self.settings.stream_metadata)
        return stream


def check_output_path(path: Path, source: Path | None = None) -> None:
    """Raise ``VideoPathError`` unless ``path`` can be written: not ``source``, not a folder, in an existing,
    writable folder."""
    if source is not None and _same_file(path, source):
        raise VideoPathError(f"{path}: refusing to write onto the input file")
    if path.is_dir():
        raise VideoPathError(f"{path}: is a folder")
    folder = path.parent
    if not folder.is_dir():
        raise VideoPathError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise VideoPathError(f"{path}: permission denied (cannot write in {folder})")


def _as_rate(fps: float | Fraction) -> Fraction:
    """A frame rate as an exact fraction; 23.976, 29.97, 59.94 ... become n*1000/1001."""
    if isinstance(fps, Fraction):
        return fps
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    ntsc = Fraction(round(fps * 1.001) * 1000, 1001)
    if abs(float(ntsc) - fps) < 1e-3 and round(fps) != fps:
        return ntsc
    return Fraction(fps).limit_denominator(1000)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _check_size(path: Path, width: int, height: int, pix_fmt: str) -> None:
    """Raise ``EncodeSettingsError`` when ``pix_fmt``'s chroma subsampling needs an even width or height."""
    chroma = av.VideoFormat(pix_fmt, 2, 2).components
    need_w = any(c.width == 1 for c in chroma)
    need_h = any(c.height == 1 for c in chroma)
    if width < 1 or height < 1 or (need_w and width % 2) or (need_h and height % 2):
        rule = "an even width and height" if need_h else "an even width"
        raise EncodeSettingsError(
            f"{path}: {width}x{height} cannot be encoded as {pix_fmt}, which needs {rule}; "
            "resize to an even size or use pix_fmt yuv444p"
        )
