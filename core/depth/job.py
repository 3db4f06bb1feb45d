"""A depth job: video in, depth pass out; resumable at window granularity.

``run_depth(job)`` decodes the video once as a stream (plus, with shot detection on, a cheap low-resolution pass
to find the cuts first), runs each shot through the engine on its own and writes a depth pass
(``core.depth.depth_pass``). After every window the engine's state is saved atomically in the pass's ``.work/``
folder, so the same job started again after an interruption continues from the last completed window and produces
byte-identical files.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import atomic_path, write_text
from core.depth.depth_pass import MANIFEST, DepthPass, DepthPassWriter, PassInfo
from core.depth.shots import ShotScan, detect_cuts, scan_size
from core.errors import DepthshotError

log = logging.getLogger(__name__)

ENGINES = ("vda", "vda-stream", "rollingdepth")
PRECISIONS = ("fp32", "fp16", "bf16")
_SHOTS_FILE = "shots.json"
_STATE_FILE = "engine_state.npz"
_ANCHOR_FILE = "engine_anchor.npz"


@dataclass
class DepthJob:
    """Everything ``python -m core.depth`` accepts; paths as ``Path``."""

    input: Path
    output: Path
    model: str = "vda-l"
    weights: Path | None = None
    input_size: int = 518
    max_res: int | None = None  # longest side of the frames depth is computed at (default: the video's size)
    precision: str = "fp32"
    device: str | None = None  # default: cuda when available, else cpu
    shots: bool = True  # detect cuts and process each shot on its own
    start: float | None = None  # seconds
    end: float | None = None  # seconds
    engine: str = "vda"  # "vda", "vda-stream" or "rollingdepth"
    preset: str = "fast"  # rollingdepth preset: fast, fast1024, full, paper
    reuse_features: bool = True  # vda: encode each frame once (off only to measure the saving)
    preview: str | None = None  # also write PASS/preview.mp4: "depth", or "side-by-side" (RGB | depth)


@dataclass
class Progress:
    """Progress report of a running job."""

    frames_done: int
    frame_count: int  # 0 while unknown
    fps: float  # frames per second in this run
    eta_s: float | None  # seconds left, None while unknown
    stage: str  # "scan", "depth", "preview", "done"


def default_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def processing_size(width: int, height: int, max_res: int | None) -> tuple[int, int]:
    """(w, h) depth is computed at: the video's size, scaled down so the longest side is at most ``max_res``."""
    if max_res is None or max(width, height) <= max_res:
        return width, height
    s = max_res / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def _check(job: DepthJob) -> None:
    if job.engine not in ENGINES:
        raise DepthshotError(f"unknown engine {job.engine!r} (expected {' or '.join(ENGINES)})")
    if job.precision not in PRECISIONS:
        raise DepthshotError(f"unknown precision {job.precision!r} (expected one of {', '.join(PRECISIONS)})")
    if job.input_size < 14 or job.input_size % 14:
        raise DepthshotError(f"--input-size must be a positive multiple of 14, got {job.input_size}")
    if job.max_res is not None and job.max_res < 14:
        raise DepthshotError(f"--max-res must be at least 14, got {job.max_res}")
    if not Path(job.input).is_file():
        raise DepthshotError(f"{job.input}: no such file")
    out = Path(job.output)
    if out.exists() and out.resolve() == Path(job.input).resolve():
        raise DepthshotError(f"{out}: the output would overwrite the input")
    if out.exists() and not out.is_dir():
        raise DepthshotError(f"{out}: exists and is not a folder")


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path, durable=True) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _save_after_writes(writer: DepthPassWriter, path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` (copied now) atomically once the frames written to ``writer`` before are on disk."""
    copies = {k: np.array(v, copy=True) for k, v in arrays.items()}
    writer.then(lambda: _atomic_savez(path, copies))


class _Meter:
    """Frames/s and ETA of this run, reported through ``on_progress``."""

    def __init__(self, frame_count: int, done: int, on_progress: Callable[[Progress], None] | None) -> None:
        self.frame_count, self.done, self.on_progress = frame_count, done, on_progress
        self._start_done, self._t0 = done, time.monotonic()

    def report(self, done: int, stage: str = "depth") -> None:
        self.done = done
        if self.on_progress is None:
            return
        dt = time.monotonic() - self._t0
        fps = (done - self._start_done) / dt if dt > 0 else 0.0
        eta = (self.frame_count - done) / fps if fps > 0 and self.frame_count else None
        self.on_progress(Progress(done, self.frame_count, fps, eta, stage))


def _scan(job: DepthJob, writer: DepthPassWriter, width: int, height: int, detect: bool, meter: _Meter) -> ShotScan:
    """Frame count and cuts, from ``.work/shots.json`` when a previous run already scanned."""
    from core.video import read_frames

    path = writer.work_dir / _SHOTS_FILE
    if path.is_file():
        data = json.loads(path.read_text())
        return ShotScan(data["frame_count"], data["cuts"])
    frames = read_frames(job.input, start=job.start, end=job.end, size=scan_size(width, height))

    def images() -> Iterator[np.ndarray]:
        for i, f in enumerate(frames):
            if i % 64 == 0:
                meter.report(0, "scan")
            yield f.image

    if detect:
        scan = detect_cuts(images())
    else:
        scan = ShotScan(sum(1 for _ in images()), [])
    write_text(path, json.dumps({"frame_count": scan.frame_count, "cuts": scan.cuts}))
    return scan


def run_depth(job: DepthJob, on_progress: Callable[[Progress], None] | None = None) -> Path:
    """Compute the depth pass of ``job.input`` into ``job.output`` (a folder); return the folder.

    Started again with the same job after an interruption, it continues where it stopped.
    """
    from core.video import probe

    _check(job)
    info = probe(job.input)
    width, height = processing_size(info.width, info.height, job.max_res)
    finished = _finished_pass(job, width, height)
    if finished is not None:  # the same job ran to the end before: at most the preview is left to do
        log.info("%s already holds this job's finished depth pass", job.output)
        _write_preview(job, finished, _Meter(len(finished), len(finished), on_progress))
        return Path(job.output)
    device = job.device or default_device()
    if job.engine in ("vda", "vda-stream"):
        from core.models.weights import load_vda

        loaded = load_vda(job.model, job.weights, device=device)
        kind = "metric_depth" if loaded.spec.metric else "relative_inverse_depth"
        model = {"id": job.model, "engine": job.engine, "checkpoint_sha256": loaded.sha256, "input_size": job.input_size,
                 "precision": job.precision}
    else:
        loaded = None
        kind = "relative_inverse_depth"
        model = {"id": "rollingdepth", "engine": "rollingdepth", "preset": job.preset, "precision": job.precision,
                 "weights": str(job.weights) if job.weights else None}
    model.update({"device": device, "shot_detection": job.shots, "start": job.start, "end": job.end})
    pass_info = PassInfo(source=str(job.input), fps=float(info.fps), width=width, height=height, kind=kind, model=model)
    writer = DepthPassWriter(job.output, pass_info, resume=True)
    meter = _Meter(info.frame_count, writer.resume_point(), on_progress)
    size = None if (width, height) == (info.width, info.height) else (width, height)

    if job.engine in ("vda", "vda-stream") and not job.shots:
        scan = None  # one shot: no need to know its length in advance
    else:
        scan = _scan(job, writer, width, height, detect=job.shots, meter=meter)
        meter.frame_count = scan.frame_count
    if job.engine == "vda":
        _run_vda(job, loaded, device, writer, scan, size, meter)
    elif job.engine == "vda-stream":
        _run_vda_stream(job, loaded, device, writer, scan, size, meter)
    else:
        _run_rollingdepth(job, device, writer, scan, size, meter)
    depth_pass = writer.close()
    _write_preview(job, depth_pass, meter)
    return Path(job.output)


def _finished_pass(job: DepthJob, width: int, height: int) -> DepthPass | None:
    """The finished pass already in ``job.output`` when this job made it, None when there is none.

    Raises when the folder holds a finished pass of another job (nothing is overwritten).
    """
    if not (Path(job.output) / MANIFEST).is_file():
        return None
    dp = DepthPass.open(job.output)
    model = dp.info.model
    source = dp.source_path()
    wanted = {"engine": job.engine, "start": job.start, "end": job.end, "shot_detection": job.shots,
              "size": (width, height), "source": Path(job.input).resolve()}
    found = {"engine": model.get("engine"), "start": model.get("start"), "end": model.get("end"),
             "shot_detection": model.get("shot_detection"), "size": (dp.info.width, dp.info.height),
             "source": source.resolve() if source else None}
    if job.engine in ("vda", "vda-stream"):
        wanted.update(id=job.model, input_size=job.input_size, precision=job.precision)
        found.update(id=model.get("id"), input_size=model.get("input_size"), precision=model.get("precision"))
    else:
        wanted.update(preset=job.preset)
        found.update(preset=model.get("preset"))
    differ = [k for k in wanted if wanted[k] != found[k]]
    if differ:
        raise DepthshotError(
            f"{job.output} holds a finished depth pass made with other settings ({', '.join(differ)}); "
            "remove it or choose another output folder"
        )
    return dp


def _write_preview(job: DepthJob, depth_pass: DepthPass, meter: _Meter) -> None:
    """Write PASS/preview.mp4 when the job asks for one and it is not there yet; report the job done."""
    preview = Path(job.output) / "preview.mp4"
    if job.preview and not preview.exists():
        from core.depth.preview import write_preview

        meter.report(meter.done, "preview")
        write_preview(depth_pass, preview, side_by_side=job.preview == "side-by-side")
    meter.report(len(depth_pass), "done")


def _run_vda(job: DepthJob, loaded, device: str, writer: DepthPassWriter, scan: ShotScan | None, size, meter) -> None:
    from core.depth.engine import ShotDepth, VdaRunner
    from core.depth.windows import OVERLAP, WINDOW
    from core.video import read_frames

    runner = VdaRunner(loaded.model, job.input_size, device=device, precision=job.precision)
    metric = loaded.spec.metric
    state_path = writer.work_dir / _STATE_FILE
    starts = set(scan.cuts) if scan else set()


    # where to continue: inside the open shot from the saved window state, or at a shot boundary
    shot_start = writer.current_shot_start
    shot = None
    restore = None  # (state, anchor, frames of the last encoded batch) while re-decoding that batch
    if shot_start is not None:
        restore = _load_shot_state(writer.work_dir, shot_start)
        if restore is None:
            shot = ShotDepth(runner, metric, job.reuse_features)
            decode_from = shot_start
        else:
            state, anchor = restore
            windows, received = int(state["stitch_counts"][0]), int(state["received"])
            batch_len = WINDOW if windows == 1 else WINDOW - OVERLAP
            decode_from = shot_start + received - batch_len
            restore = (state, anchor, batch_len, [])
        writer.begin_shot(shot_start)
    else:
        decode_from = writer.resume_point()
    log.info("depth of %s from frame %d", job.input, decode_from)

    def write(items) -> None:
        for j, depth, pts in items:
            writer.write(shot_start + j, depth, pts)
        meter.report(writer.resume_point())

    n = 0
    for n, frame in enumerate(read_frames(job.input, start=job.start, end=job.end, size=size), start=1):
        i = n - 1
        if i < decode_from:
            continue
        if restore is not None:
            state, anchor, batch_len, batch = restore
            batch.append(frame.image)
            if len(batch) == batch_len:
                shot = ShotDepth.from_state(runner, state, anchor, np.stack(batch), job.reuse_features)
                restore = None
            continue
        if shot is None or i in starts:
            if shot is not None:
                write(shot.finish())
                writer.end_shot()
            shot_start = i
            shot = ShotDepth(runner, metric, job.reuse_features)
            writer.begin_shot(i)
        windows = shot.windows
        out = shot.push(frame.image, frame.pts)
        if out:
            write(out)
        if shot.windows != windows:  # saved by the writer's disk thread once the frames before it are staged
            if shot.windows == 1:
                _save_after_writes(writer, writer.work_dir / _ANCHOR_FILE, {"shot_start": shot_start, **shot.anchor()})
            _save_after_writes(writer, state_path, {"shot_start": shot_start, **shot.state()})
    if n <= decode_from and (restore is not None or n < decode_from):
        raise DepthshotError(f"{job.input}: has {n} frames now, fewer than the interrupted job had read")
    if shot is not None:
        write(shot.finish())
        writer.end_shot()


def _run_vda_stream(job: DepthJob, loaded, device: str, writer: DepthPassWriter, scan: ShotScan | None, size,
                    meter) -> None:
    """Streaming engine: frame by frame, the stream reset at each cut. Resume restarts the open shot (its staged
    frames are computed again, to the same bytes): the cache is not persisted."""
    from core.depth.engine import VdaRunner
    from core.depth.stream import stream_shots
    from core.video import read_frames

    runner = VdaRunner(loaded.model, job.input_size, device=device, precision=job.precision)
    first = writer.current_shot_start if writer.current_shot_start is not None else writer.resume_point()
    log.info("streaming depth of %s from frame %d", job.input, first)
    frames = read_frames(job.input, start=job.start, end=job.end, size=size)
    n = sum(1 for _ in itertools.islice(frames, first))  # skip to the shot start
    if n < first:
        raise DepthshotError(f"{job.input}: has {n} frames now, fewer than the interrupted job had read")

    def on_shot(i: int) -> None:
        if writer.current_shot_start is not None and writer.current_shot_start != i:
            writer.end_shot()
        writer.begin_shot(i)

    for i, depth, pts in stream_shots(runner, frames, scan.cuts if scan else (), first, on_shot):
        writer.write(i, depth, pts)
        meter.report(i + 1)
    if writer.current_shot_start is not None:
        writer.end_shot()


def _load_shot_state(work_dir: Path, shot_start: int) -> tuple[dict, dict] | None:
    """The saved engine state and anchor of the shot starting at ``shot_start``, or None."""
    try:
        with np.load(work_dir / _STATE_FILE) as z:
            state = dict(z)
        with np.load(work_dir / _ANCHOR_FILE) as z:
            anchor = dict(z)
    except (OSError, ValueError):
        return None
    if int(state.pop("shot_start")) != shot_start or int(anchor.pop("shot_start")) != shot_start:
        return None
    return state, anchor


def _run_rollingdepth(job: DepthJob, device: str, writer: DepthPassWriter, scan: ShotScan, size, meter) -> None:
    from core.depth import rollingdepth
    from core.video import read_frames

    resume = writer.current_shot_start if writer.current_shot_start is not None else writer.resume_point()
    config = rollingdepth.get_preset(job.preset)
    model = None  # loaded once, when the first shot that is not done yet comes
    for start, end in scan.bounds():
        if end <= resume:
            continue

        pts: dict[int, float] = {}

        def shot_frames(start: int = start, end: int = end, pts: dict[int, float] = pts) -> Iterator[np.ndarray]:
            for i, frame in enumerate(read_frames(job.input, start=job.start, end=job.end, size=size)):
                if i >= end:
                    break
                if i >= start:
                    pts[i] = frame.pts
                    yield frame.image

        if model is None:
            model = rollingdepth.load_model(job.weights, device, config.precision)
        writer.begin_shot(start)
        depths = rollingdepth.estimate_shot(model, shot_frames, end - start, config)
        for i, depth in enumerate(depths, start=start):
            if i >= end:
                raise RuntimeError(f"rollingdepth returned more than the shot's {end - start} frames")
            writer.write(i, np.asarray(depth, np.float32), pts[i])
            meter.report(i + 1)
        writer.end_shot()
