"""Carrying a source's audio and subtitle streams into an output file, interleaved with the new video.

Packets are copied as they are (no re-encode), shifted onto the output's timeline and trimmed to the
output's ``[start, end)`` window. Audio whose codec the output container cannot hold is re-encoded to AAC;
plain-text subtitles are rewritten between SubRip (Matroska) and mov_text (MP4/MOV) as the container needs;
other subtitles it cannot hold are dropped with a warning.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
import av.container

from core.video.container import timeline_origin, open_input

log = logging.getLogger(__name__)


@dataclass
class _Route:
    """Where the packets of one source stream go."""

    source: av.stream.Stream
    target: av.stream.Stream
    encoder: av.audio.stream.AudioStream | None = None  # set when the audio is re-encoded to AAC
    rewrite: Callable[[bytes], bytes | None] | None = None  # set when text subtitles change format


def _mov_text_to_srt(data: bytes) -> bytes | None:
    """The text of a mov_text sample (2-byte length + UTF-8 + style boxes); ``None`` for an empty gap sample."""
    if len(data) < 2:
        return None
    (length,) = struct.unpack(">H", data[:2])
    return data[2 : 2 + length] or None


def _srt_to_mov_text(data: bytes) -> bytes:
    """A SubRip packet's text as a mov_text sample (no style boxes)."""
    text = data[: 0xFFFF]
    return struct.pack(">H", len(text)) + text


_TEXT_REWRITES = {("subrip", "mov_text"): _srt_to_mov_text, ("mov_text", "subrip"): _mov_text_to_srt}


class Remuxer:
    """Streams the audio/subtitle packets of ``source`` into ``output`` up to a given output time.

    ``start``/``end`` (s, source timeline from the start of the file) select the window; output time 0 is
    ``start``. Call ``feed_until(t)`` before muxing a video packet at time ``t`` (s) and ``finish()`` at the end.
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
    ) -> None:
        self._input = open_input(source)
        self._output = output
        self._shift = timeline_origin(self._input) + (start or 0.0)
        self._trim_start = start is not None
        self._end = end - (start or 0.0) if end is not None else math.inf
        self._routes: dict[int, _Route] = {}
        for stream in self._input.streams:
            if (stream.type == "audio" and audio) or (stream.type == "subtitle" and subtitles):
                route = self._route(stream)
                if route is not None:
                    self._routes[stream.index] = route
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

    def _route(self, stream: av.stream.Stream) -> _Route | None:
        name = stream.codec_context.codec.canonical_name  # "subrip" for the decoder named "srt"
        if name in self._output.supported_codecs:
            return _Route(stream, self._output.add_stream_from_template(stream))
        if stream.type == "audio":
            log.info("%s cannot hold %s audio: re-encoding stream %d to AAC", self._output.format.name, name, stream.index)
            encoder = self._output.add_stream("aac", rate=stream.codec_context.sample_rate)
            encoder.layout = stream.codec_context.layout
            encoder.metadata.update(stream.metadata)
            return _Route(stream, encoder, encoder)
        for (src, dst), rewrite in _TEXT_REWRITES.items():
            if name == src and dst in self._output.supported_codecs:
                log.info("rewriting %s subtitles of stream %d as %s", src, stream.index, dst)
                target = self._output.add_mux_stream(dst)
                target.time_base = stream.time_base
                target.metadata.update(stream.metadata)
                return _Route(stream, target, rewrite=rewrite)
        log.warning("%s cannot hold %s subtitles: stream %d dropped", self._output.format.name, name, stream.index)
        return None

    def _timed_packets(self) -> Iterator[tuple[float, av.Packet]]:
        """Source packets in file order with their output time (s), trimmed to the window."""
        streams = [route.source for route in self._routes.values()]
        for packet in self._input.demux(*streams):
            if packet.dts is None or packet.pts is None:
                continue  # flush markers: nothing to copy
            tb = packet.time_base
            begin = float(packet.pts * tb) - self._shift
            if (self._trim_start and begin < -1e-6) or begin >= self._end:
                continue  # outside the window (an untrimmed start keeps e.g. audio priming before 0)
            shift = round(self._shift / tb)
            packet.pts -= shift
            packet.dts -= shift
            yield float(packet.dts * tb), packet

    def _mux(self, packet: av.Packet) -> None:
        route = self._routes[packet.stream.index]
        if route.rewrite is not None:
            data = route.rewrite(bytes(packet))
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
