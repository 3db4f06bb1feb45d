"""``python -m core.stereo SOURCE --live``: stereo from a live source, frame in -> stereo frame out, with the
streaming depth engine (``vda-stream``); written as it is made, to a file or to stdout as a playable stream.

There is no depth pass and no shot range to normalise over, so relative depth is mapped to nearness with a running
robust range: each frame's 2nd..98th percentile, followed by a first-order low-pass (time constant
``RANGE_SMOOTHING_S``) so the parallax does not breathe from frame to frame.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch

from core.depth.depth_pass import Shot
from core.depth.live import LiveRun, stream_engine
from core.errors import DepthshotError
from core.stereo.disparity import metric_disparity, nearness, relative_disparity

log = logging.getLogger(__name__)

RANGE_SMOOTHING_S = 1.0


class RunningRange:
    """The robust p2..p98 range of a stream's raw depth, low-passed over time; as a ``Shot`` for ``nearness``."""

    def __init__(self, smoothing_s: float = RANGE_SMOOTHING_S) -> None:
        self.smoothing_s = smoothing_s
        self._range: np.ndarray | None = None  # (p2, p98)
        self._last_pts: float | None = None

    def update(self, depth: np.ndarray, pts: float) -> Shot:
        """Enter frame ``depth`` (H, W) shown at ``pts`` (s); return the current range as a one-frame ``Shot``."""
        now = np.percentile(depth[:: max(1, depth.shape[0] // 64), :: max(1, depth.shape[1] // 64)], [2, 98])
        if self._range is None or self.smoothing_s <= 0:
            self._range = now
        else:
            dt = max(pts - self._last_pts, 0.0) if self._last_pts is not None else 0.0
            alpha = 1.0 - math.exp(-dt / self.smoothing_s)
            self._range = self._range + alpha * (now - self._range)
        self._last_pts = pts
        p2, p98 = (float(v) for v in self._range)
        return Shot(index=0, start=0, end=0, lo=p2, hi=p98, p2=p2, p98=p98)


def run_live_stereo(job, timeout: float, stream_format: str = "matroska") -> LiveRun:
    """Convert the live source ``job.input`` (a ``StereoJob``) to stereo into ``job.output`` (``-`` = stdout).

    Returns the run (latencies, and the error when the source broke off: the output is finalised either way).
    """
    from core.depth import DepthJob
    from core.stereo.convert import _device
    from core.video.live import STDIO, LiveSource

    if job.output is None:
        raise DepthshotError("--live needs -o OUTPUT (a .mkv/.ts/.mp4 file, or - for stdout)")
    output = str(job.output)
    suffix = ".mkv" if output == STDIO and stream_format == "matroska" else Path(output).suffix.lower()
    if output != STDIO and suffix not in (".mkv", ".ts", ".mp4", ".mov", ".webm"):
        raise DepthshotError(f"{output}: a live output must be .mkv, .ts, .mp4 or .mov (or - for stdout)")
    device = _device(job.device)
    depth_job = job.depth_job or DepthJob(input=job.input, output=job.input)
    source = LiveSource(job.input, timeout=timeout)
    source.open()  # a source without video is refused before the model is loaded
    try:
        return _stream_stereo(job, source, depth_job, device, output, suffix, stream_format)
    finally:
        source.close()


def _stream_stereo(job, source, depth_job, device, output: str, suffix: str, stream_format: str) -> LiveRun:
    from core.depth.stream import StreamDepth
    from core.geometry.camera import resolve_intrinsics
    from core.stereo.convert import _to_output
    from core.stereo.layouts import Packer
    from core.stereo.metadata import stereo_settings
    from core.stereo.warp import ViewSynthesizer
    from core.video.live import LiveWriter

    _, loaded = stream_engine(depth_job, "cuda" if device.type == "cuda" else "cpu")
    kind = "metric_depth" if loaded.metric else "relative_inverse_depth"
    cfg = job.disparity
    settings = stereo_settings(job.layout, job.settings, suffix)  # packed size unknown yet: no eye display tags
    run = LiveRun(output)
    stream = StreamDepth(loaded.runner)
    ranges = RunningRange()
    views = ViewSynthesizer(job.eyes, job.fill, border=job.border, dilate=job.dilate)
    writer = packer = None
    try:
        for frame in source.frames():
            h, w = frame.image.shape[:2]
            depth = stream.push(frame.image)
            shot = ranges.update(depth, frame.pts)
            if writer is None:
                k = resolve_intrinsics(w, h, fov_deg=job.fov)
                packer = Packer(job.layout, w, h, hfov_deg=k.hfov_deg, eye_size=job.vr_eye_size, device=device)
                writer = LiveWriter(output, *packer.size, source.rate, settings, stream_format=stream_format)
                writer.open()
            if cfg.mode == "metric":
                disparity = metric_disparity(depth, shot, cfg, k.fx, cfg.convergence)
            else:
                disparity = relative_disparity(nearness(depth, shot, kind), cfg, w, cfg.convergence)
            img = torch.from_numpy(frame.image).to(device).permute(2, 0, 1).float() / 255.0
            left, right = views(img, torch.from_numpy(disparity).to(device), new_shot=run.frames == 0)
            packed = packer(left, right)
            writer.write(_to_output(packed, deep=False), frame.pts)
            run.frame_done(frame.arrived)
    except (DepthshotError, BrokenPipeError) as exc:
        run.error = exc if isinstance(exc, DepthshotError) else DepthshotError(f"{output}: the reader went away")
    finally:
        if writer is not None:
            writer.close()
    if writer is None and run.error is not None:
        raise run.error
    return run
