"""``VideoWriter``: stream RGB frames into a video file, keeping the source's audio, subtitles and colours."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import av.video.reformatter as reformatter
import numpy as np

from core.atomic import temp_path
from core.video.errors import EmptyVideoError, EncodeSettingsError, VideoPathError
from core.video.hdr import TRC_HLG, TRC_PQ, HdrMetadata
from core.video.info import ColorInfo, VideoInfo, probe
from core.video.isobmff import add_sample_entry_boxes, signal_boxes
from core.video.remux import Remuxer

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 90000)  # exact for 24, 25, 30, 50, 60 and the NTSC 1000/1001 rates

_ENCODERS = {"h264": "libx264", "h265": "libx265", "ffv1": "ffv1", "prores": "prores_ks"}
X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
CODECS = ("auto", *_ENCODERS)
_DEFAULT_PIX_FMT = {"h264": "yuv420p", "h265": "yuv420p", "ffv1": "yuv444p", "prores": "yuv422p10le"}
_DEEP_PIX_FMT = {"h265": "yuv420p10le"}  # the default for sources deeper than 8 bits (H.265 Main10)
# which codecs each container takes in a way players read (the muxers accept more, with non-standard tags)
CONTAINER_CODECS = {
    ".mp4": ("h264", "h265"),
    ".m4v": ("h264", "h265"),
    ".mov": ("h264", "h265", "prores"),
    ".mkv": ("h264", "h265", "ffv1", "prores"),
}
MP4_SUFFIXES = (".mp4", ".m4v", ".mov")
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


@dataclass(frozen=True)
class StereoSignal:
    """How a frame-packed stereo video is marked in the container (the layout's policy is ``core.stereo``'s).

    ``st3d``: Spherical Video V2 stereo mode for MP4/MOV (1 top-bottom, 2 left-right; None: no MP4 signal);
    ``spherical``: a 180x180 degree equirectangular projection (VR180: ``sv3d`` in MP4, Projection in Matroska);
    ``eye_display``: per-eye display size (w, h) in pixels, for Matroska's DisplayWidth/DisplayHeight when the
    eyes are squeezed (half side-by-side / top-bottom); None: the muxer's default (the packed eye size).
    ``right_first``: the right view is packed first (cross-eyed); ``SegmentedWriter`` marks x264's frame-packing SEI
    so (content interpretation type 2).
    """

    st3d: int | None = None
    spherical: bool = False
    eye_display: tuple[int, int] | None = None
    right_first: bool = False


@dataclass
class EncodeSettings:
    """How to encode the video stream.

    ``codec``: "auto" (h264, or h265 for sources deeper than 8 bits), "h264", "h265", "ffv1" (lossless, .mkv) or
    "prores" (.mov/.mkv). ``crf``/``preset``: x264/x265 quality (lower crf = better) and speed.
    ``pix_fmt``: "yuv420p", "yuv444p", "yuv420p10le", "rgb24", ...; ``None`` = what plays everywhere: yuv420p
    (8-bit H.264 High / H.265 Main), yuv420p10le for H.265 from a deeper source (Main10), yuv444p for ffv1,
    yuv422p10le for prores. H.264 High 4:4:4 (yuv444p) and High 10 (yuv420p10le) only when asked for.
    ``codec_options``: extra encoder options, e.g. ``{"x264-params": "frame-packing=3"}``.
    ``stream_metadata``: tags on the video stream, e.g. Matroska ``{"stereo_mode": "left_right"}``.
    ``container_options``: muxer options, e.g. ``{"strict": "unofficial"}`` or ``{"movflags": "+faststart"}``.
    ``stereo``: container stereo signalling (see ``StereoSignal``).
    """

    codec: str = "h264"
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str | None = None
    codec_options: dict[str, str] = field(default_factory=dict)
    stream_metadata: dict[str, str] = field(default_factory=dict)
    container_options: dict[str, str] = field(default_factory=dict)
    stereo: StereoSignal | None = None

    def resolved(self, bit_depth: int = 8) -> EncodeSettings:
        """These settings with ``codec="auto"`` and ``pix_fmt=None`` made concrete for a source of ``bit_depth``
        bits per component."""
        codec = ("h265" if bit_depth > 8 else "h264") if self.codec == "auto" else self.codec
        pix_fmt = self.pix_fmt
        if pix_fmt is None and codec in _ENCODERS:
            pix_fmt = _DEEP_PIX_FMT.get(codec, _DEFAULT_PIX_FMT[codec]) if bit_depth > 8 else _DEFAULT_PIX_FMT[codec]
        return replace(self, codec=codec, pix_fmt=pix_fmt)

    def check_container(self, path: Path) -> None:
        """Raise ``EncodeSettingsError`` (one line) when a ``path`` file cannot hold this codec the standard way."""
        suffix = path.suffix.lower()
        codec = self.codec
        if codec == "auto" or suffix not in CONTAINER_CODECS or codec not in _ENCODERS:
            return
        if codec not in CONTAINER_CODECS[suffix]:
            fits = [s for s, codecs in CONTAINER_CODECS.items() if codec in codecs and s != ".m4v"]
            raise EncodeSettingsError(
                f"{path}: a {suffix} file cannot hold {codec} video; use {' or '.join(fits)} "
                f"(or another codec: {suffix} takes {', '.join(CONTAINER_CODECS[suffix])})"
            )

    def encoder(self) -> tuple[str, str]:
        """``(FFmpeg encoder name, FFmpeg pixel format)`` for these settings."""
        if self.codec not in _ENCODERS:
            raise EncodeSettingsError(f"unknown codec {self.codec!r}; choose one of {', '.join(CODECS)}")
        if self.codec in ("h264", "h265") and self.preset not in X26X_PRESETS:
            raise EncodeSettingsError(f"unknown {self.codec} preset {self.preset!r}; one of {', '.join(X26X_PRESETS)}")
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


class _OutputFile:
    """The with-block of a video output: ``open()`` on entry; ``close()`` when the block ends normally (the file
    appears), ``abort()`` when it ends by an exception (no partial file is left where the output goes)."""

    def __enter__(self) -> Self:
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
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class VideoWriter(_OutputFile):
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
        copy_chapters: bool = True,
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
        self._copy = (copy_audio, copy_subtitles, copy_chapters)
        self._copy_color = copy_color
        self._post_process = post_process
        self.temp_path = temp_path(self.path)
        self.frames_written = 0
        self.hdr: HdrMetadata | None = None  # the source's HDR10 metadata the output carries (set by open())
        self._last_ticks: int | None = None
        self._last_dts: int | None = None
        self._container: av.container.OutputContainer | None = None
        self._remux: Remuxer | None = None

    def open(self) -> None:
        """Check the paths and settings, then open the temporary output file."""
        check_output_path(self.path, self.source)
        source = probe(self.source) if self.source is not None else None
        self.settings = self.settings.resolved(source.bit_depth if source is not None else 8)
        self.settings.check_container(self.path)
        encoder, pix_fmt = self.settings.encoder()
        _check_size(self.path, self.width, self.height, pix_fmt)
        color = output_color(pix_fmt, source if self._copy_color else None)
        self.hdr = hdr_to_carry(self.path, source, color, pix_fmt)
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
                    chapters=self._copy[2],
                    video=self._stream,
                )
        except BaseException:
            self.abort()
            raise

    def write(self, image: np.ndarray, pts: float | None = None) -> None:
        """Encode one ``(H, W, 3)`` RGB frame (uint8, or uint16 for deep formats), or an ``(H, W)`` grey one (for a
        grey ``pix_fmt`` such as FFV1's ``gray16le``), shown at ``pts`` (s).

        ``pts`` is on the source's timeline (as ``Frame.pts`` gives it); ``None`` places the frame one
        nominal frame period after the previous one. Times must increase.
        """
        if self._container is None:
            raise RuntimeError("VideoWriter.write() called outside its with-block")
        if image.shape not in ((self.height, self.width, 3), (self.height, self.width)) or image.dtype not in (
            np.uint8, np.uint16
        ):
            raise ValueError(
                f"expected a ({self.height}, {self.width}[, 3]) uint8/uint16 image, got {image.shape} {image.dtype}"
            )
        if pts is None:
            ticks = round(self.frames_written / self.rate / TIME_BASE)
        else:
            ticks = round((pts - self.start) / TIME_BASE)
        if ticks < 0 or (self._last_ticks is not None and ticks <= self._last_ticks):
            raise ValueError(f"frame time {pts}s is before the previous frame or the writer's start")
        self._last_ticks = ticks
        if image.ndim == 2:  # grey (a depth video): gray / gray16le
            source_format = "gray" if image.dtype == np.uint8 else "gray16le"
        else:
            source_format = "rgb24" if image.dtype == np.uint8 else "rgb48le"
        frame = av.VideoFrame.from_ndarray(image, format=source_format)
        frame = frame.reformat(**self._frame_format)
        # encoders that code the colour per frame (ProRes) read the frame's tags, not the stream's
        frame.color_primaries, frame.color_trc = self._color_tags.primaries, self._color_tags.transfer
        frame.colorspace, frame.color_range = self._color_tags.matrix, self._color_tags.range
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
            boxes = signal_boxes(self.settings.stereo, self.hdr) if self.path.suffix.lower() in MP4_SUFFIXES else []
            if boxes:
                add_sample_entry_boxes(self.temp_path, boxes)
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

    def _add_video(self, container, encoder: str, pix_fmt: str, color: ColorInfo) -> None:
        """Add the video stream and set how frames are converted to its pixel format and tagged."""
        self._stream = self._add_video_stream(container, encoder, pix_fmt, color)
        self._color_tags = color
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
        options.update(self.settings.codec_options)
        if self.settings.codec == "h265":
            params = ["log-level=error"]
            if self.hdr is not None:
                params += ["hdr10=1", *self.hdr.x265_params()]
            user = [p for p in options.get("x265-params", "").split(":") if p]
            options["x265-params"] = ":".join(params + user)
            if self.path.suffix.lower() in MP4_SUFFIXES:
                ctx.codec_tag = "hvc1"  # Apple players refuse hev1
        stream.options = options
        stream.metadata.update(self.settings.stream_metadata)
        stream.disposition = stream.disposition | av.stream.Disposition.default
        return stream


def output_color(pix_fmt: str, source: VideoInfo | None) -> ColorInfo:
    """The output's colour tags: the source's, with each unspecified one as BT.709 (what players assume), so that
    the bitstream (e.g. ProRes frame headers) and the container say the same; BT.709 without a source."""
    color = _BT709
    if source is not None and source.color.specified:
        found = source.color
        color = ColorInfo(
            primaries=found.primaries if found.primaries != 2 else _BT709.primaries,
            transfer=found.transfer if found.transfer != 2 else _BT709.transfer,
            matrix=found.matrix if found.matrix != 2 else _BT709.matrix,
            range=found.range or _BT709.range,
        )
    if av.VideoFormat(pix_fmt).is_rgb:
        return ColorInfo(color.primaries, color.transfer, matrix=0, range=2)
    return color


def hdr_to_carry(path: Path, source: VideoInfo | None, color: ColorInfo, pix_fmt: str) -> HdrMetadata | None:
    """The source's HDR10 metadata when the output keeps its PQ transfer; refuses 8-bit PQ (it bands and most
    players show it wrong) and warns for 8-bit HLG."""
    depth = max(c.bits for c in av.VideoFormat(pix_fmt).components)
    if color.transfer == TRC_PQ and depth <= 8:
        raise EncodeSettingsError(
            f"{path}: the source is PQ (HDR10) and {pix_fmt} is 8-bit; 8-bit PQ bands and plays wrong: "
            "keep 10 bits (codec h265 with pix_fmt yuv420p10le, the default for such sources)"
        )
    if color.transfer == TRC_HLG and depth <= 8:
        log.warning("%s: the source is HLG and %s is 8-bit: expect banding (yuv420p10le keeps 10 bits)", path, pix_fmt)
    return source.hdr if source is not None and color.transfer == TRC_PQ else None


def check_output_path(path: Path, source: Path | None = None) -> None:
    """Raise ``VideoPathError`` unless ``path`` can be written: not ``source``, not a folder, in an existing,
    writable folder."""
    if source is not None and _same_file(path, source):
        raise VideoPathError(f"{path}: refusing to write onto the input file")
    if path.is_dir():
        raise VideoPathError(f"{path}: is a folder")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise VideoPathError(f"{path}: {folder} is a file, not a folder")
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
