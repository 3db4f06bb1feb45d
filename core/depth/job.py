"""A depth job: video in, depth pass out; resumable.

``run_depth(job)`` decodes the video once as a stream and hands each shot to the chosen engine
(``core.depth.engines``), which writes it into the depth pass (``core.depth.depth_pass``). With shot detection on,
the cuts are found in that same decode pass (each frame also scaled down for the detector, a few frames ahead of
the engine); only an engine that needs each shot's length in advance (rollingdepth) or a cluster executor gets a
cheap low-resolution scan of the whole video first. Engines save their state in the pass's ``.work/`` folder, so the
same job started again after an interruption continues where it stopped and produces byte-identical files.

``add_engine_arguments(parser)`` + ``DepthJob.from_args`` give every command that can compute depth the same engine
options; ``ensure_pass(video, job)`` is the one way those commands get a pass for a video.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from core.atomic import write_text
from core.cli import check_number, check_window, input_source
from core.depth.depth_pass import LOCK_FILE, MANIFEST, WORK_DIR, DepthPass, DepthPassWriter, PassInfo
from core.depth.engines import ENGINE_OPTIONS, ENGINES, PRECISIONS, Engine, ShotInput, get_engine, make_config
from core.depth.shots import ShotScan, detect_cuts, flag_cuts, scan_size
from core.devices import cpu_left_free, resolve_device
from core.errors import DepthshotError, disk_full_reported
from core.lock import claim_output, output_lock

if TYPE_CHECKING:
    from types import TracebackType

    from core.video import Frame, VideoInfo
    from core.video.pipeline import Prefetched

log = logging.getLogger(__name__)

__all__ = ["ENGINES", "PRECISIONS", "DepthJob", "LocalShots", "PendingShots", "Progress", "ShotExecutor", "ShotFrames",
           "add_engine_arguments", "ensure_pass", "run_depth"]

_SHOTS_FILE = "shots.json"
# the DepthJob fields add_engine_arguments defines
_ENGINE_ARGS = ("engine", "model", "weights", "preset", "input_size", "max_res", "precision", "device", "shots",
                "compile")
_DECODE_AHEAD_BYTES = 384 << 20  # decoded frames waiting for the engine: up to this much memory, ...
_DECODE_AHEAD_FRAMES = (24, 64)  # ... at least a window's new frames, at most two windows
_CUT_AHEAD = 4  # decoded frames waiting for the cut detector's thread


@dataclass
class DepthJob:
    """Everything ``python -m core.depth`` accepts; paths as ``Path``.

    The engine options (``model``, ``weights``, ``input_size``, ``precision``, ``preset``, ``reuse_features``) are
    None when not chosen: the engine's default then applies, and an option the chosen engine does not take is
    refused (``DepthshotError``) instead of being ignored. See each engine's config for their meaning.
    """

    input: Path | str  # a URL stays text
    output: Path
    engine: str = "vda"  # a name in core.depth.engines.ENGINES
    model: str | None = None  # vda: checkpoint id (default vda-l)
    weights: Path | None = None  # checkpoint file (vda) or folder (rollingdepth) instead of the hub's
    input_size: int | None = None  # vda: network input size (default 518)
    max_res: int | None = None  # longest side of the frames depth is computed at (default: the video's size)
    precision: str | None = None  # auto, fp32, fp16, bf16 (default: the engine's; vda auto)
    device: str | None = None  # see core.devices.resolve_device (default: cuda when available, else cpu)
    shots: bool = True  # detect cuts and process each shot on its own
    start: float | None = None  # seconds
    end: float | None = None  # seconds
    preset: str | None = None  # rollingdepth: fast, fast1024, full, paper (default fast)
    reuse_features: bool | None = None  # vda: encode each frame once (off only to measure the saving)
    compile: bool | None = None  # vda: torch.compile the encoder and head
    preview: str | None = None  # also write PASS/preview.mp4: "depth", or "side-by-side" (RGB | depth)
    ignore_decode_errors: bool = False  # convert a video with many frames damaged by decode errors anyway

    def engine_options(self) -> dict[str, Any]:
        """The engine options as chosen (None = not chosen)."""
        return {k: getattr(self, k) for k in ENGINE_OPTIONS}

    @classmethod
    def from_args(cls, args: argparse.Namespace, input: Path | str, output: Path, **fields: Any) -> DepthJob:
        """The job for ``input`` -> ``output`` from options added by ``add_engine_arguments``; ``fields`` set the
        rest (e.g. ``start``/``end``, which each command defines itself)."""
        chosen = {k: getattr(args, k) for k in _ENGINE_ARGS if getattr(args, k, None) is not None}
        return cls(input=input_source(str(input)), output=Path(output), **{**chosen, **fields})


def add_engine_arguments(
    parser: argparse.ArgumentParser, title: str = "depth engine", device: bool = True
) -> argparse._ArgumentGroup:
    """Add the engine options every depth-computing command shares (as one argument group); defaults are None so
    that ``DepthJob.from_args`` can tell what was chosen. ``device=False`` leaves ``--device`` to a command that
    defines its own (and passes it on). Returns the group, for the command's own engine-related options."""
    g = parser.add_argument_group(title)
    g.add_argument("--engine", choices=tuple(ENGINES), default="vda", help="depth engine (default vda)")
    g.add_argument("--model", help="vda checkpoint: vda-s, vda-b, vda-l (default), vda-s-metric, vda-b-metric, "
                   "vda-l-metric")
    g.add_argument("--weights", type=Path, help="checkpoint file (vda) or folder (rollingdepth) instead of the "
                   "Hugging Face cache/download")
    g.add_argument("--preset", help="rollingdepth preset: fast (default), fast1024, full, paper")
    g.add_argument("--input-size", type=int, help="vda network input size (short side, multiple of 14; default 518)")
    g.add_argument("--max-res", type=int, help="compute depth at most this many pixels on the long side")
    g.add_argument("--precision", choices=PRECISIONS, help="auto, fp32, fp16 or bf16 (default auto: vda bf16 "
                   "autocast on GPUs that support it, fp16 on other GPUs, fp32 on the CPU; rollingdepth the preset's)")
    g.add_argument("--compile", action="store_true", default=None,
                   help="vda: torch.compile the encoder and head (slower start; measure first)")
    if device:
        g.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    g.add_argument("--no-shots", dest="shots", action="store_false", default=None,
                   help="do not split the video at cuts")
    return g


@dataclass
class Progress:
    """Progress report of a running job."""

    frames_done: int
    frame_count: int  # 0 while unknown
    fps: float  # frames per second in this run
    eta_s: float | None  # seconds left, None while unknown
    stage: str  # "scan", "depth", "preview", "done"


def processing_size(width: int, height: int, max_res: int | None) -> tuple[int, int]:
    """(w, h) depth is computed at: the video's size, scaled down so the longest side is at most ``max_res``."""
    if max_res is None or max(width, height) <= max_res:
        return width, height
    s = max_res / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def _check(job: DepthJob) -> tuple[Engine, Any]:
    """Validate the job before anything is created; the engine and its config."""
    for name in ("input", "output"):
        if not isinstance(getattr(job, name), (str, Path)):
            raise DepthshotError(f"{name} must be a path, got {getattr(job, name)!r}")
    if not isinstance(job.engine, str) or not isinstance(job.shots, bool):
        raise DepthshotError(f"engine must be a name and shots true or false, got {job.engine!r}, {job.shots!r}")
    if job.preview not in (None, "depth", "side-by-side"):
        raise DepthshotError(f"preview must be depth or side-by-side, got {job.preview!r}")
    check_number("--input-size", job.input_size, integer=True, minimum=14)
    check_number("--max-res", job.max_res, integer=True)
    check_window(job.start, job.end)
    resolve_device(job.device)  # an unknown or missing device: one line, before anything is created
    engine = get_engine(job.engine)
    config = make_config(engine, job.engine_options())
    if job.max_res is not None and job.max_res < 14:
        raise DepthshotError(f"--max-res must be at least 14, got {job.max_res}")
    if Path(job.input).is_dir():
        raise DepthshotError(f"{job.input}: is a folder, not a video file")
    if not Path(job.input).is_file():
        raise DepthshotError(f"{job.input}: no such file")
    out = Path(job.output)
    if out.exists() and out.resolve() == Path(job.input).resolve():
        raise DepthshotError(f"{out}: the output would overwrite the input")
    if out.exists() and not out.is_dir():
        raise DepthshotError(f"{out}: exists and is not a folder")
    return engine, config


def check_job(job: DepthJob) -> None:
    """Raise ``DepthshotError`` for a job that cannot run (options, input, output), before anything is created."""
    _check(job)


class Meter:
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


def scan_shots(job: DepthJob, writer: DepthPassWriter, width: int, height: int, detect: bool,
               meter: Meter) -> ShotScan:
    """Frame count, cuts and frame times, from ``.work/shots.json`` when a previous run already scanned."""
    from core.video import read_frames

    path = writer.work_dir / _SHOTS_FILE
    if path.is_file():
        data = json.loads(path.read_text())
        return ShotScan(data["frame_count"], data["cuts"], data.get("timestamps"))
    frames = read_frames(job.input, start=job.start, end=job.end, size=scan_size(width, height),
                         max_damaged=max_damaged(job))
    times: list[float] = []

    def images() -> Iterator[np.ndarray]:
        for i, f in enumerate(frames):
            if i % 64 == 0:
                meter.report(0, "scan")
            times.append(f.pts)
            yield f.image

    if detect:
        scan = detect_cuts(images())
    else:
        scan = ShotScan(sum(1 for _ in images()), [])
    scan = dataclasses.replace(scan, timestamps=times)
    write_text(path, json.dumps({"frame_count": scan.frame_count, "cuts": scan.cuts, "timestamps": times}))
    return scan


def max_damaged(job: DepthJob) -> float | None:
    """``read_frames``' limit on frames damaged by decode errors for this job."""
    from core.video.reader import DAMAGED_FRACTION

    return None if job.ignore_decode_errors else DAMAGED_FRACTION


def decode_ahead(width: int, height: int) -> int:
    """Decoded frames of ``width`` x ``height`` let wait for the engine: what ``_DECODE_AHEAD_BYTES`` holds, within
    ``_DECODE_AHEAD_FRAMES`` (64 at 1080p, 24 at 4K). Decoding ahead fills the time the engine's first window
    leaves the decoder's core idle (on 2 cores: the whole 1080p job 4.0-4.2 s with 56 frames vs 4.7-5.0 s with 24)."""
    low, high = _DECODE_AHEAD_FRAMES
    return max(low, min(high, _DECODE_AHEAD_BYTES // (width * height * 3)))


class ShotFrames:
    """The job's frames decoded once, in order, in their own thread ahead of the engine, handed out shot after shot
    (``shots()``): a shot runs up to the next frame that starts one.

    The shots start at ``starts`` (pass indices from a scan; ``[]``: one shot) or, with ``starts=None``, at the cuts
    ``flag_cuts`` finds on each frame scaled to ``cut_size`` (None: as decoded), in a thread of its own between the
    decoder's and the engine (the scaling costs about half a 1080p decode: the two overlap on a machine with cores
    to spare). ``size``: (w, h) to decode at, None for the video's size. Decoding starts at once; ``close()`` (or
    leaving a ``with``) stops it.
    """

    def __init__(self, job: DepthJob, pass_size: tuple[int, int], size: tuple[int, int] | None,
                 starts: list[int] | None, cut_size: tuple[int, int] | None = None) -> None:
        from core.video import prefetch, read_frames

        frames = read_frames(job.input, start=job.start, end=job.end, size=size, max_damaged=max_damaged(job))
        self._stages: list[Prefetched[Any]] = []  # the threads' outputs, engine side first (closed in order)
        if starts is None:
            frames = prefetch(frames, maxsize=_CUT_AHEAD)
            self._stages.append(frames)
            flagged = flag_cuts(frames, cut_size)
        else:
            flagged = _flag_starts(frames, set(starts))
        self._decoded = prefetch(flagged, maxsize=decode_ahead(*pass_size))
        self._stages.insert(0, self._decoded)
        self._ahead: tuple[Frame, bool] | None = None  # the next decoded frame, taken from the queue
        self.count = 0  # pass index of the next frame: frames handed out or skipped so far

    def __enter__(self) -> ShotFrames:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop decoding (and wait for the threads to end)."""
        for stage in self._stages:
            stage.close()

    def shots(self, ends: dict[int, int] | None = None) -> Iterator[ShotInput]:
        """The shots in order, each a ``ShotInput`` whose ``end`` is ``ends[start]`` when given, else None (known only
        once its frames are read); frames of a shot the caller did not read are skipped when it asks for the next."""
        ends = ends or {}
        while self._peek() is not None:
            start = self.count
            end = ends.get(start)
            yield ShotInput(start, end, lambda first, start=start, end=end: self._take(start, end, first))
            for _ in self._take(start, end, self.count):  # what the caller left of this shot
                pass

    def _peek(self) -> tuple[Frame, bool] | None:
        if self._ahead is None:
            self._ahead = next(self._decoded, None)
        return self._ahead

    def _take(self, start: int, end: int | None, first: int) -> Iterator[Frame]:
        """The frames of the shot at ``start`` from pass index ``first`` on."""
        if first < self.count:
            raise ValueError(f"frame {first} was already decoded (shots must be run in order)")
        while end is None or self.count < end:
            item = self._peek()
            if item is None or (item[1] and self.count > start):  # the video's end or the next shot's first frame
                return
            self._ahead = None
            self.count += 1
            if self.count > first:
                yield item[0]


def _flag_starts(frames: Iterator[Frame], starts: set[int]) -> Iterator[tuple[Frame, bool]]:
    """Each frame with whether it is in ``starts`` (a shot starts there)."""
    for i, frame in enumerate(frames):
        yield frame, i in starts


def _cuts_inline(job: DepthJob, engine: Engine, executor: ShotExecutor) -> bool:
    """Whether the shots are found in the decode pass that feeds the engine instead of by a scan first: for an
    executor that computes from frames decoded here and an engine that needs no shot lengths in advance, unless the
    pass was started by an older depthshot that scanned (its ``.work/shots.json`` keeps deciding the shots)."""
    old_scan = job.shots and (Path(job.output) / WORK_DIR / _SHOTS_FILE).is_file()
    return not (executor.needs_scan or engine.needs_shot_length or old_scan)


def plan_depth(job: DepthJob, *, check_device: bool = True) -> tuple[Engine, Any, VideoInfo, int, int]:
    """Validate ``job`` and probe its input before anything is created: the engine, its config, the video's info
    and the ``(width, height)`` depth is computed at. ``check_device=False`` leaves the device to the machine that
    will run the engine (a cluster worker)."""
    from core.video import probe

    engine, config = _check(job if check_device else dataclasses.replace(job, device=None))
    info = probe(job.input)
    check_window(job.start, job.end, info.duration)
    if job.start is not None and info.duration and job.start >= info.duration:
        raise DepthshotError(f"--start {job.start:g} s is past the end of {job.input} ({info.duration:.2f} s)")
    width, height = processing_size(info.width, info.height, job.max_res)
    return engine, config, info, width, height


@dataclass(frozen=True)
class PendingShots:
    """The shots of a job still to compute, handed to a ``ShotExecutor``."""

    job: DepthJob
    size: tuple[int, int] | None  # (w, h) to decode at; None = the video's size
    bounds: list[tuple[int, int]] | None  # pass frame ranges [start, end) in order; None: found while decoding
    timestamps: list[float] | None  # pts (s) of every pass frame, from the scan (None when there was no scan)
    frames: ShotFrames | None = None  # the frames decoded here, for an executor without needs_scan (else None)


class ShotExecutor(Protocol):
    """Where the shots of a job are computed: ``LocalShots`` (this process, the default) or a cluster
    (``core.cluster``). ``run_depth`` does everything else (checks, resume, the one pass writer, the manifest)."""

    # True: the executor needs every shot's bounds and frame times before it starts; False: it computes from the
    # frames run_depth decodes in this process (PendingShots.frames), where the cuts can be found as they go by
    needs_scan: bool

    def resolve(self, engine: Engine, config: Any, job: DepthJob) -> tuple[str, dict[str, Any]]:
        """The device the engine will run on and the engine's fingerprint there."""
        ...

    def load(self, engine: Engine, config: Any, device: str) -> dict[str, Any]:
        """Get the engine ready; the manifest entries known after loading (``LoadedEngine.record``)."""
        ...

    def run(self, pending: PendingShots, writer: DepthPassWriter, meter: Meter) -> None:
        """Compute the pending shots into ``writer`` in order (``begin_shot`` .. ``end_shot`` each), reporting
        frames done through ``meter``."""
        ...


class LocalShots:
    """The single-process executor: the engine in this process, the video decoded once, shot after shot."""

    needs_scan = False

    def __init__(self) -> None:
        self.loaded = None

    def resolve(self, engine: Engine, config: Any, job: DepthJob) -> tuple[str, dict[str, Any]]:
        device = resolve_device(job.device)
        return device, engine.fingerprint(config, device)

    def load(self, engine: Engine, config: Any, device: str) -> dict[str, Any]:
        self.loaded = engine.load(config, device)
        return self.loaded.record

    def run(self, pending: PendingShots, writer: DepthPassWriter, meter: Meter) -> None:
        assert pending.frames is not None  # needs_scan False: run_depth decodes the frames here

        def on_frame(i: int) -> None:
            meter.report(i + 1)

        with pending.frames as frames:
            if pending.bounds is None:
                self._run_found(frames, writer, on_frame)
                meter.frame_count = frames.count  # known now
            elif pending.bounds:
                ends = dict(pending.bounds)
                for shot in frames.shots(ends):
                    if shot.start in ends:  # the others: frames before the first pending shot, done by an earlier run
                        self.loaded.run_shot(shot, writer, on_frame)
                    if shot.start == pending.bounds[-1][0]:
                        break

    def _run_found(self, frames: ShotFrames, writer: DepthPassWriter, on_frame: Callable[[int], None]) -> None:
        """Run the shots as ``frames`` finds them, skipping those an earlier run finished (which must be found
        again where it recorded them: the same frames give the same cuts)."""
        recorded = [s.start for s in writer.info.shots]
        done = writer.shots_end
        skipped: list[int] = []

        def check(boundary: int) -> None:  # the shots found so far, then the next start or the video's end
            if skipped != recorded or boundary != done:
                raise DepthshotError(f"{writer.root}: the video's shots differ from the interrupted run's (shots at "
                                     f"{skipped} then frame {boundary} now, at {recorded} then frame {done} "
                                     "before); remove the folder to start again")

        ran = False
        for shot in frames.shots():
            if shot.start < done:
                if recorded[len(skipped) : len(skipped) + 1] != [shot.start]:  # refused before decoding further
                    check(shot.start)
                skipped.append(shot.start)
                continue
            if not ran:
                check(shot.start)
                ran = True
            self.loaded.run_shot(shot, writer, on_frame)
        if frames.count == 0:
            raise DepthshotError(f"{writer.root}: no frames to compute depth for (empty --start/--end window?)")
        if not ran:
            check(frames.count)


def scanned_shots(job: DepthJob, executor: ShotExecutor, writer: DepthPassWriter, pass_size: tuple[int, int],
                  size: tuple[int, int] | None, meter: Meter) -> PendingShots:
    """The shots still to compute from a scan of the whole video (``scan_shots``) run first; for an executor
    without ``needs_scan`` their frames are being decoded (``PendingShots.frames``)."""
    scan = scan_shots(job, writer, *pass_size, detect=job.shots, meter=meter)
    if executor.needs_scan and scan.timestamps is None:  # scanned by a depthshot that kept no times
        (writer.work_dir / _SHOTS_FILE).unlink()
        scan = scan_shots(job, writer, *pass_size, detect=job.shots, meter=meter)
    meter.frame_count = scan.frame_count
    done = writer.shots_end  # shots finished by an earlier run
    bounds = [b for b in scan.bounds() if b[0] >= done]
    frames = None if executor.needs_scan else ShotFrames(job, pass_size, size, [b[0] for b in bounds])
    return PendingShots(job, size, bounds, scan.timestamps, frames)


def run_depth(job: DepthJob, on_progress: Callable[[Progress], None] | None = None,
              executor: ShotExecutor | None = None) -> Path:
    """Compute the depth pass of ``job.input`` into ``job.output`` (a folder); return the folder.

    Started again with the same job after an interruption, it continues where it stopped. ``executor``: where the
    shots are computed (default ``LocalShots``: this process); every executor gives the same files. ``on_progress``
    hears first (the frames done by earlier runs) once the job is under way: validated, its engine loaded, its
    output claimed; a job that cannot run raises before that.
    """
    executor = executor or LocalShots()
    engine, config, info, width, height = plan_depth(job, check_device=isinstance(executor, LocalShots))
    device, fingerprint = executor.resolve(engine, config, job)
    model = {**fingerprint, "shot_detection": job.shots, "start": job.start, "end": job.end}
    finished = finished_pass(job, model, width, height)
    if finished is not None:  # the same job ran to the end before: at most the preview is left to do
        log.info("%s already holds this job's finished depth pass", job.output)
        with output_lock(Path(job.output) / LOCK_FILE, job.output):
            write_preview_when_asked(job, finished, Meter(len(finished), len(finished), on_progress))
        return Path(job.output)
    size = None if (width, height) == (info.width, info.height) else (width, height)
    inline = _cuts_inline(job, engine, executor)
    ahead = None  # decoding starts before the weights are loaded when it can (it only reads the input)
    with contextlib.ExitStack() as on_error:
        if inline:
            ahead = on_error.enter_context(ShotFrames(job, (width, height), size, None if job.shots else [],
                                                      scan_size(width, height)))
        record = executor.load(engine, config, device)
        on_error.pop_all()
    model.update({**record, "device": device})
    pass_info = PassInfo(source=str(job.input), fps=float(info.fps), width=width, height=height,
                         kind=engine.kind(config), model=model)
    meters: list[Meter] = []

    def needed() -> int:  # bytes still to write: a float32 EXR while staged plus the 16-bit PNG, per frame left
        left = info.frame_count - (meters[0].done if meters else 0)
        return max(0, left) * width * height * 6

    with ahead or contextlib.nullcontext(), \
            claim_output(job.output, Path(job.output) / LOCK_FILE, created=[job.output]), \
            disk_full_reported(job.output, needed):
        if (Path(job.output) / MANIFEST).is_file():  # another run of this job finished while we got ready
            finished = finished_pass(job, model, width, height)
            write_preview_when_asked(job, finished, Meter(len(finished), len(finished), on_progress))
            return Path(job.output)
        # frames computed here arrive spread over time: their PNGs can be encoded ahead where a core is left free
        # (a cluster's come in whole)
        writer = DepthPassWriter(job.output, pass_info, resume=True,
                                 encode_ahead=isinstance(executor, LocalShots) and cpu_left_free(device))
        meter = Meter(info.frame_count, writer.resume_point(), on_progress)
        meters.append(meter)
        meter.report(meter.done, "depth" if inline else "scan")  # under way: what fails from here is the work
        if inline:  # the frame count stays the probe's until the decoder reaches the end
            pending = PendingShots(job, size, None, None, ahead)
        else:
            pending = scanned_shots(job, executor, writer, (width, height), size, meter)
        executor.run(pending, writer, meter)
        depth_pass = writer.close()
        write_preview_when_asked(job, depth_pass, meter)
    return Path(job.output)


def ensure_pass(video: Path, job: DepthJob, on_progress: Callable[[Progress], None] | None = None,
                executor: ShotExecutor | None = None) -> DepthPass:
    """The depth pass of ``video``: ``video`` itself when it is a depth pass folder, else ``job`` run for it (which
    reuses a finished pass of the same job in ``job.output`` and resumes an unfinished one; ``executor`` as in
    ``run_depth``)."""
    video = Path(video)
    if (video / MANIFEST).is_file():
        return DepthPass.open(video)
    job = dataclasses.replace(job, input=video)
    log.info("computing the depth of %s into %s", video, job.output)
    return DepthPass.open(run_depth(job, on_progress, executor))


def finished_pass(job: DepthJob, model: dict[str, Any], width: int, height: int) -> DepthPass | None:
    """The finished pass already in ``job.output`` when this job made it, None when there is none.

    ``model``: the manifest's model entry this job would write (the engine's fingerprint and the job's window).
    Raises when the folder holds a finished pass of another job (nothing is overwritten).
    """
    if not (Path(job.output) / MANIFEST).is_file():
        return None
    dp = DepthPass.open(job.output)
    source = dp.source_path()
    wanted = {**model, "size": (width, height), "source": Path(job.input).resolve()}
    found = {**{k: dp.info.model.get(k) for k in model}, "size": (dp.info.width, dp.info.height),
             "source": source.resolve() if source else None}
    differ = [k for k in wanted if wanted[k] != found[k]]
    if differ:
        raise DepthshotError(
            f"{job.output} holds a finished depth pass made with other settings ({', '.join(differ)}); "
            "remove it or choose another output folder"
        )
    return dp


def write_preview_when_asked(job: DepthJob, depth_pass: DepthPass, meter: Meter) -> None:
    """Write PASS/preview.mp4 when the job asks for one and it is not there yet; report the job done."""
    preview = Path(job.output) / "preview.mp4"
    if job.preview and not preview.exists():
        from core.depth.preview import write_preview

        meter.report(meter.done, "preview")
        write_preview(depth_pass, preview, side_by_side=job.preview == "side-by-side")
    meter.report(len(depth_pass), "done")
