"""Live runs of the streaming engine: a non-seekable source in, results out as they are made, latency measured.

``LiveRun`` is what a live command reports at the end: frames done, per-frame latency (frame decoded -> result
written) percentiles, and whether the source ended or broke (the error, raised by the command after the report).
``run_live_depth`` writes a depth pass from a live source; ``python -m core.stereo --live`` uses the same pieces.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from core.depth.depth_pass import DepthPassWriter, PassInfo
from core.errors import DepthshotError

if TYPE_CHECKING:
    from core.depth.job import DepthJob

log = logging.getLogger(__name__)


@dataclass
class LiveRun:
    """Outcome of a live run: ``latencies_s`` per frame (decoded -> written), and ``error`` when the source broke
    (or the run failed) after the output was finalised; None when the source ended."""

    output: str
    latencies_s: list[float] = field(default_factory=list)
    error: DepthshotError | None = None
    first_arrival: float | None = None  # time.monotonic() when the first frame was decoded
    last_done: float | None = None  # ... when the last frame was written

    def frame_done(self, arrived: float) -> None:
        """Record one frame written now that was decoded at ``arrived`` (``time.monotonic()``)."""
        now = time.monotonic()
        self.first_arrival = arrived if self.first_arrival is None else self.first_arrival
        self.last_done = now
        self.latencies_s.append(now - arrived)

    @property
    def fps(self) -> float:
        """Frames per second from the first frame decoded to the last written (nan below two frames)."""
        if self.frames < 2 or self.last_done <= self.first_arrival:
            return float("nan")
        return self.frames / (self.last_done - self.first_arrival)

    @property
    def frames(self) -> int:
        return len(self.latencies_s)

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile of the per-frame latency in milliseconds (nan without frames)."""
        return float(np.percentile(self.latencies_s, q) * 1000) if self.latencies_s else float("nan")

    def report(self) -> str:
        """One line: frames, rate, latency p50/p99, how the source stopped."""
        how = "the source ended" if self.error is None else "the source broke off"
        return (f"{self.frames} frames at {self.fps:.1f} fps; latency (frame decoded -> frame written) "
                f"p50 {self.percentile_ms(50):.1f} ms, p99 {self.percentile_ms(99):.1f} ms; {how}")


def stream_engine(job: DepthJob, device: str) -> tuple[Any, Any]:
    """The ``vda-stream`` engine's config and loaded engine for ``job``'s options (``job.engine`` must be
    ``vda-stream``, or ``vda`` left at its default, which a live source turns into ``vda-stream``)."""
    from core.depth.engines import get_engine, make_config

    if job.engine not in ("vda", "vda-stream"):
        raise DepthshotError(f"a live source runs the streaming engine: use --engine vda-stream, not {job.engine}")
    engine = get_engine("vda-stream")
    config = make_config(engine, job.engine_options())
    return config, engine.load(config, device)


def run_live_depth(job: DepthJob, timeout: float) -> LiveRun:
    """Depth pass of a live source with the streaming engine, one shot (no cut detection), frames staged as they
    come; when the source ends or breaks the pass is closed, complete with the frames so far."""
    from core.depth.engines import get_engine
    from core.depth.job import processing_size
    from core.depth.stream import StreamDepth
    from core.devices import resolve_device
    from core.video.live import STDIO, LiveSource

    if job.start is not None or job.end is not None:
        raise DepthshotError("--start/--end need a seekable video file, not a live source")
    device = resolve_device(job.device)
    engine = get_engine("vda-stream")
    run = LiveRun(str(job.output))
    writer = None
    with LiveSource(job.input, timeout=timeout) as source:
        config, loaded = stream_engine(job, device)  # once the source is known to hold video
        stream = StreamDepth(loaded.runner)
        try:
            for frame in source.frames():
                h, w = frame.image.shape[:2]
                size = processing_size(w, h, job.max_res)
                if writer is None:
                    model = {**engine.fingerprint(config, device), **loaded.record, "device": device,
                             "shot_detection": False, "start": None, "end": None, "live": True}
                    is_file = str(job.input) != STDIO and "://" not in str(job.input)
                    info = PassInfo(source=str(job.input) if is_file else "", fps=float(source.rate),
                                    width=size[0], height=size[1], kind=engine.kind(config), model=model)
                    writer = DepthPassWriter(job.output, info, resume=False)
                    writer.begin_shot(0)
                image = frame.image
                if size != (w, h):
                    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
                writer.write(frame.index, stream.push(image), frame.pts)
                run.frame_done(frame.arrived)
        except DepthshotError as exc:
            run.error = exc
        finally:
            if writer is not None and writer.current_shot_start is not None and run.frames:
                writer.close()
    if writer is None and run.error is not None:
        raise run.error
    return run
