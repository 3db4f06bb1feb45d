"""Carrying a source's audio and subtitle streams into an output file, interleaved with the new video.

Packets are copied as they are (no re-encode), shifted onto the output's timeline and trimmed to the
output's ``[start, end)`` window. Audio whose codec the output container cannot hold is re-encoded to AAC;
subtitles it cannot hold are dropped with a warning.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import av
import av.container

from core.video.container import container_start, open_input

log = logging.getLogger(__name__)


@dataclass
class _Route:
    """Where the packets of one source stream go."""

    source: av.stream.Stream
    target: av.stream.Stream
    encoder: av.audio.stream.AudioStream | None = None  # set when the audio is re-encoded to AAC


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
        self._shift = container_start(self._input) + (start or 0.0)
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
        name = stream.codec_context.name
        if name in self._output.supported_codecs:
            return _Route(stream, self._output.add_stream_from_template(stream))
        if stream.type == "audio":
            log.info("%s cannot hold %s audio: re-encoding stream %d to AAC", self._output.format.name, name, stream.index)
            encoder = self._output.add_stream("aac", rate=stream.codec_context.sample_rate)
            encoder.layout = stream.codec_context.layout
            encoder.metadata.update(stream.metadata)
            return _Route(stream, encoder, encoder)
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
            if begin < -1e-6 or begin >= self._end:
                continue
            shift = round(self._shift / tb)
            packet.pts -= shift
            packet.dts -= shift
            yield float(packet.dts * tb), packet

    def _mux(self, packet: av.Packet) -> None:
        route = self._routes[packet.stream.index]
        if route.encoder is None:
            packet.stream = route.target
            self._output.mux(packet)
            return
        for frame in packet.decode():
            self._output.mux(route.encoder.encode(frame))
