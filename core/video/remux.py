"""Carrying a source's audio and subtitle streams into an output file, interleaved with the new video.

Packets are copied as they are (no re-encode), shifted onto the output's timeline and trimmed to the
output's ``[start, end)`` window. Audio whose codec the output container cannot hold is re-encoded to AAC.
Text subtitles (SubRip, mov_text, ASS/SSA, WebVTT) are handled as cues: a cue on screen at the cut starts at 0,
the last one is cut at the window's end, empty gap samples are dropped (the MP4 muxer writes its own), and the
text is rewritten between SubRip (Matroska) and mov_text (MP4/MOV) as the container needs (ASS styling is lost
when it goes into MP4/MOV, with a warning). Bitmap subtitles the container cannot hold are dropped with a warning.
Each copied stream keeps its language, title and disposition (default, forced, ...); Matroska outputs get a
default audio track when the source marks none. Chapters are carried over, shifted and trimmed like the streams.
"""

from __future__ import annotations

import logging
import math
import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import av.container
import av.stream

from core.video.container import open_input, stream_duration, timeline_origin, video_stream

log = logging.getLogger(__name__)

TEXT_CODECS = ("subrip", "mov_text", "ass", "ssa", "webvtt", "text")
_STATISTICS_TAGS = re.compile(r"^(DURATION|ENCODER|BPS|NUMBER_OF_FRAMES|NUMBER_OF_BYTES|_STATISTICS_.*|handler_name|vendor_id)(-.+)?$", re.I)
_ASS_OVERRIDE = re.compile(r"\{[^}]*\}")


@dataclass
class _Route:
    """Where the packets of one source stream go."""

    source: av.stream.Stream
    target: av.stream.Stream
    encoder: av.audio.stream.AudioStream | None = None  # set when the audio is re-encoded to AAC
    text: Callable[[bytes], bytes | None] | None = None  # set for text subtitles: source packet -> target packet


def _mov_text_text(data: bytes) -> bytes:
    """The UTF-8 text of a mov_text sample (2-byte length + text + style boxes); empty for a gap sample."""
    if len(data) < 2:
        return b""
    (length,) = struct.unpack(">H", data[:2])
    return data[2 : 2 + length]


def _ass_text(data: bytes) -> bytes:
    """The plain text of a Matroska ASS/SSA event (``ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,
    Text``): override blocks ``{...}`` removed, ``\\N`` as a line break, ``\\h`` as a space."""
    text = data.decode("utf-8", "replace").split(",", 8)[-1]
    text = _ASS_OVERRIDE.sub("", text).replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    return text.strip().encode("utf-8")


def _plain_text(codec: str, data: bytes) -> bytes:
    """The text of one subtitle packet of ``codec`` as UTF-8 (empty for a gap sample)."""
    if codec == "mov_text":
        return _mov_text_text(data)
    if codec in ("ass", "ssa"):
        return _ass_text(data)
    return data.rstrip(b"\0")


def _packer(source: str, target: str) -> Callable[[bytes], bytes | None]:
    """Rewrite a ``source`` subtitle packet as a ``target`` one; ``None`` drops an empty (gap) cue."""

    def pack(data: bytes) -> bytes | None:
        text = _plain_text(source, data)
        if not text.strip():
            return None
        if source == target:
            return data
        if target == "mov_text":
            text = text[:0xFFFF]
            return struct.pack(">H", len(text)) + text
        return text

    return pack


def copy_stream_tags(source: av.stream.Stream, target: av.stream.Stream, *, mp4: bool) -> None:
    """Give ``target`` the language, title and other descriptive tags and the disposition of ``source``
    (statistics tags such as Matroska's ``DURATION`` or ``ENCODER`` are left out: they describe the old file;
    tags ``target`` already has win).

    MP4/MOV (``mp4``) store a track's title as its handler name, which is where MP4 tools read it.
    """
    for key, value in source.metadata.items():
        if not _STATISTICS_TAGS.match(key) and key not in target.metadata:
            target.metadata[key] = value
    if source.language and "language" not in target.metadata:
        target.metadata["language"] = source.language
    if mp4 and "title" in target.metadata:
        target.metadata["handler_name"] = target.metadata["title"]
    target.disposition = source.disposition


class Remuxer:
    """Streams the audio/subtitle packets of ``source`` into ``output`` up to a given output time.

    ``start``/``end`` (s, source timeline from the start of the file) select the window; output time 0 is
    ``start``. Call ``feed_until(t)`` before muxing a video packet at time ``t`` (s) and ``finish()`` at the end.
    The source's chapters are set on ``output`` (shifted and trimmed to the window) when ``chapters``.
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        output: av.container.OutputContainer,
        *,
        audio: bool,
        subtitles: bool,
        start: float | None,
        end: float | None,
        chapters: bool = True,
        video: av.stream.Stream | None = None,
    ) -> None:
        self._input = open_input(source)
        self._output = output
        self._shift = timeline_origin(self._input) + (start or 0.0)
        self._trim_start = start is not None
        self._end = end - (start or 0.0) if end is not None else math.inf
        self._text_end = self._end if end is not None else self._video_end()
        self._routes: dict[int, _Route] = {}
        mp4 = _is_mp4(output)
        if video is not None:
            copy_stream_tags(video_stream(self._input), video, mp4=mp4)
            video.disposition = video.disposition | av.stream.Disposition.default
        for stream in self._input.streams:
            if (stream.type == "audio" and audio) or (stream.type == "subtitle" and subtitles):
                route = self._route(stream)
                if route is not None:
                    copy_stream_tags(stream, route.target, mp4=mp4)
                    self._routes[stream.index] = route
        if _is_matroska(output):
            _mark_default_audio([r.target for r in self._routes.values()])
        if chapters:
            self._copy_chapters()
        self._packets = self._timed_packets() if self._routes else iter(())
        self._pending: tuple[float, av.Packet] | None = None

    def feed_until(self, t: float) -> None:
        """Mux every source packet whose output time (s) is at most ``t``."""
        while True:
            if self._pending is None:
                self._pending = next(self._packets, None)
                if self._pending is None:
                    return
            time, packet = self._pending
            if time > t:
                return
            self._pending = None
            self._mux(packet)

    def finish(self) -> None:
        """Mux the remaining packets, flush re-encoders and close the source."""
        self.feed_until(math.inf)
        for route in self._routes.values():
            if route.encoder is not None:
                self._output.mux(route.encoder.encode(None))
        self.close()

    def close(self) -> None:
        """Close the source file (idempotent)."""
        self._input.close()

    def _video_end(self) -> float:
        """End of the source's video (s, output timeline); text cues are cut there when no ``end`` is given."""
        try:
            stream = video_stream(self._input)
        except av.error.FFmpegError:
            return math.inf
        duration = stream_duration(stream, self._input)
        return math.inf if duration is None else duration - (self._shift - timeline_origin(self._input))

    def _route(self, stream: av.stream.Stream) -> _Route | None:
        name = stream.codec_context.codec.canonical_name  # "subrip" for the decoder named "srt"
        supported = self._output.supported_codecs
        if stream.type == "subtitle" and name in TEXT_CODECS:
            return self._text_route(stream, name)
        if name in supported:
            return _Route(stream, self._output.add_stream_from_template(stream))
        if stream.type == "audio":
            log.info("%s cannot hold %s audio: re-encoding stream %d to AAC", self._output.format.name, name, stream.index)
            encoder = self._output.add_stream("aac", rate=stream.codec_context.sample_rate)
            encoder.layout = stream.codec_context.layout
            return _Route(stream, encoder, encoder)
        log.warning("%s cannot hold %s subtitles: stream %d dropped", self._output.format.name, name, stream.index)
        return None

    def _text_route(self, stream: av.stream.Stream, name: str) -> _Route | None:
        supported = self._output.supported_codecs
        if name in supported:
            target_codec, target = name, self._output.add_stream_from_template(stream)
        else:
            target_codec = next((c for c in ("mov_text", "subrip") if c in supported), None)
            if target_codec is None:
                log.warning("%s cannot hold text subtitles: stream %d dropped", self._output.format.name, stream.index)
                return None
            styled = name in ("ass", "ssa")
            (log.warning if styled else log.info)(
                "%s cannot hold %s subtitles: converting stream %d to %s%s", self._output.format.name, name,
                stream.index, target_codec, " (styling and positions are lost)" if styled else "",
            )
            target = self._output.add_mux_stream(target_codec)
        target.time_base = stream.time_base
        return _Route(stream, target, text=_packer(name, target_codec))

    def _copy_chapters(self) -> None:
        """Set the source's chapters on the output, on its timeline and inside its window."""
        kept = []
        for chapter in self._input.chapters():
            tb = Fraction(chapter["time_base"])
            begin = float(chapter["start"] * tb) - self._shift
            end = min(float(chapter["end"] * tb) - self._shift, self._end)
            if end <= 0 or begin >= self._end:
                continue
            begin = max(begin, 0.0)
            out_tb = Fraction(1, 1000)
            kept.append({
                "id": len(kept) + 1, "start": round(begin / out_tb), "end": round(end / out_tb),
                "time_base": out_tb, "metadata": dict(chapter["metadata"]),
            })
        if kept:
            self._output.set_chapters(kept)

    def _timed_packets(self) -> Iterator[tuple[float, av.Packet]]:
        """Source packets in file order with their output time (s), trimmed to the window."""
        streams = [route.source for route in self._routes.values()]
        for packet in self._input.demux(*streams):
            if packet.dts is None or packet.pts is None:
                continue  # flush markers: nothing to copy
            tb = packet.time_base
            begin = float(packet.pts * tb) - self._shift
            shift = round(self._shift / tb)
            if self._routes[packet.stream.index].text is not None:
                if not self._clip_cue(packet, begin, shift):
                    continue
                yield float(packet.dts * tb), packet
                continue
            if (self._trim_start and begin < -1e-6) or begin >= self._end:
                continue  # outside the window (an untrimmed start keeps e.g. audio priming before 0)
            packet.pts -= shift
            packet.dts -= shift
            yield float(packet.dts * tb), packet

    def _clip_cue(self, packet: av.Packet, begin: float, shift: int) -> bool:
        """Move a text cue onto the output timeline, cut to ``[0, end)``; False when nothing of it is left."""
        tb = packet.time_base
        stop = begin + float((packet.duration or 0) * tb)
        if stop <= 1e-6 or begin >= self._text_end - 1e-6:
            return False
        first = max(packet.pts - shift, 0)
        last = round(stop / tb) if stop <= self._text_end else math.floor(self._text_end / tb)
        if last <= first:
            return False
        packet.pts = packet.dts = first
        packet.duration = last - first
        return True

    def _mux(self, packet: av.Packet) -> None:
        route = self._routes[packet.stream.index]
        if route.text is not None:
            data = route.text(bytes(packet))
            if data is None:
                return
            copy = av.Packet(data)
            copy.pts, copy.dts, copy.duration, copy.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
            packet = copy
        if route.encoder is None:
            packet.stream = route.target
            self._output.mux(packet)
            return
        for frame in packet.decode():
            self._output.mux(route.encoder.encode(frame))


def _is_mp4(output: av.container.OutputContainer) -> bool:
    return any(name in ("mp4", "mov") for name in output.format.name.split(","))


def _is_matroska(output: av.container.OutputContainer) -> bool:
    return output.format.name in ("matroska", "webm")


def _mark_default_audio(streams: list[av.stream.Stream]) -> None:
    """Mark the first audio stream default when none is (Matroska players otherwise may pick none)."""
    audio = [s for s in streams if s.type == "audio"]
    if audio and not any(s.disposition & av.stream.Disposition.default for s in audio):
        audio[0].disposition = audio[0].disposition | av.stream.Disposition.default
