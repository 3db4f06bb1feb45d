"""Depth shots as Ray tasks, fed in order into the one depth-pass writer of the driver.

``run_depth_ray(job, options)`` is ``core.depth.job.run_depth`` with ``RayShots`` as its executor: the driver
validates, scans for cuts (once, cheap, low resolution; the scan also records every frame's pts), then submits
each shot still to do as a task. A task seeks to its shot's first frame, runs the engine's own ``run_shot`` into a
``ShotStage`` (raw frames, lossless, in ``PASS/.work/cluster/shot_NNNNNN/`` on the shared filesystem) and returns;
the driver reads the finished shots back in order and writes them through ``DepthPassWriter`` exactly as the
single-process job does, so the pass is byte-identical (same engine, same device, same torch threads).

Long shots: one longer than ``options.chunk_frames`` is computed as overlapping chunks, one task each, joined on the
driver by ``core.depth.chunks.ChunkJoin`` (an approximation of the sequential result); ``split_shots=False`` keeps
every shot one task.

Faults: a task whose worker dies is retried by Ray (``max_retries``), and resumes inside its shot from the
engine's saved window state in its stage folder; a killed driver run again finds the shots the writer recorded
and the finished stages on disk and computes only the rest. Every file is written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import finished_files, sweep_partials, write_text
from core.cluster import MAX_RETRIES, POLL_S, RayOptions, check_shared_paths, connect, fetch, task_resources
from core.depth.chunks import Chunk, ChunkJoin, split_shot
from core.depth.depth_pass import WORK_DIR, DepthPassWriter, read_staged_frame, stage_frame
from core.depth.engines import Engine, ShotInput, get_engine, make_config
from core.depth.job import DepthJob, Meter, PendingShots, Progress, max_damaged, run_depth
from core.errors import DepthshotError
from core.video import Frame, read_span

log = logging.getLogger(__name__)

STAGE_DIR = "cluster"  # under the pass's .work/
_DONE = "done.json"
_TASK = "task.json"
_PLAN = "plan.json"


def stage_folder(output: Path, start: int) -> Path:
    """Where the task of the shot starting at pass frame ``start`` stages its frames."""
    return Path(output) / WORK_DIR / STAGE_DIR / f"shot_{start:06d}"


class ShotStage:
    """The part of ``DepthPassWriter``'s interface an engine's ``run_shot`` uses, staging one shot's raw frames
    losslessly (``depth_pass.stage_frame``) in its own folder instead of quantising them.

    ``work_dir`` is the folder, so the engine's resume state (saved through ``then``) lives beside the frames, and
    ``current_shot_start`` is the shot's start: a retried task continues from that state. ``end_shot`` writes
    ``done.json`` last; a stage without it is unfinished.
    """

    def __init__(self, folder: Path, start: int, end: int | None) -> None:
        self.work_dir = Path(folder)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        sweep_partials(self.work_dir)  # what a killed attempt was writing
        self.start, self.end = start, end
        self.current_shot_start = start
        self._next = start

    @staticmethod
    def finished(folder: Path) -> tuple[int, int] | None:
        """``(start, end)`` of a finished stage, None when the stage is missing or unfinished."""
        try:
            data = json.loads((Path(folder) / _DONE).read_text())
            return int(data["start"]), int(data["end"])
        except (OSError, ValueError, KeyError):
            return None

    def frame_path(self, i: int) -> Path:
        return self.work_dir / f"{i:06d}.npy"

    def begin_shot(self, start: int) -> None:
        if start != self.start:
            raise DepthshotError(f"the stage of the shot at frame {self.start} was asked for frame {start}")

    def write(self, i: int, depth: np.ndarray, pts: float, mask: np.ndarray | None = None) -> None:
        """Stage frame ``i`` as the pass writer would (float16 kept, anything else as float32)."""
        if self.end is not None and not self.start <= i < self.end:
            raise DepthshotError(f"frame {i} is outside the shot [{self.start}, {self.end})")
        staged = np.ascontiguousarray(depth, dtype=np.float16 if depth.dtype == np.float16 else np.float32)
        stage_frame(self.frame_path(i), staged, float(pts), mask)
        self._next = max(self._next, i + 1)

    def then(self, fn: Callable[[], Any]) -> None:
        fn()  # staging is synchronous: everything written before is on disk

    def end_shot(self) -> None:
        end = self._next
        missing = next((i for i in range(self.start, end) if not self.frame_path(i).is_file()), None)
        if missing is not None or end <= self.start:
            raise DepthshotError(f"the stage of the shot at frame {self.start} lacks frame {missing}")
        write_text(self.work_dir / _DONE, json.dumps({"start": self.start, "end": end}))


_LOADED: dict[tuple, Any] = {}  # per worker process: the engine loaded once, reused by every shot it runs


def _loaded_engine(engine: Engine, config: Any, device: str) -> Any:
    key = (engine.name, config, device)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = engine.load(config, device)
    return _LOADED[key]


def _engine(job: DepthJob) -> tuple[Engine, Any]:
    engine = get_engine(job.engine)
    return engine, make_config(engine, job.engine_options())


def resolve_task(job: DepthJob) -> tuple[str, dict[str, Any]]:
    """On a worker: the device the job's engine runs on there and its fingerprint (``ShotExecutor.resolve``)."""
    from core.devices import resolve_device

    engine, config = _engine(job)
    device = resolve_device(job.device)
    return device, engine.fingerprint(config, device)


def load_task(job: DepthJob, device: str) -> dict[str, Any]:
    """On a worker: load the engine (kept for the shots this worker runs); its manifest record."""
    engine, config = _engine(job)
    return dict(_loaded_engine(engine, config, device).record)


def _shot_frames(job: DepthJob, size: tuple[int, int] | None, start: int, times: list[float],
                 first: int, end: int) -> Iterator[Frame]:
    """The pass frames ``first .. end - 1`` of the job's video, decoded after a seek (``read_span``): ``times`` are
    the pts of pass frames ``start - 1 .. end`` (``start - 1`` only when ``start > 0``, ``end`` only when the window
    has that frame)."""
    k = first - start + (1 if start > 0 else 0)  # position of ``first`` in ``times``
    n = end - first
    before = times[k - 1] if first > 0 else None
    after = times[k + n] if k + n < len(times) else None
    return read_span(job.input, times[k : k + n], before, after, start=job.start, end=job.end, size=size,
                     max_damaged=max_damaged(job))


def shot_task(job: DepthJob, device: str, size: tuple[int, int] | None, start: int, end: int,
              times: list[float]) -> tuple[int, int]:
    """On a worker: compute the shot ``[start, end)`` into its stage folder (resuming a killed attempt); ``times``
    as ``_shot_frames`` takes them. Returns ``(start, end)``."""
    folder = stage_folder(job.output, start)
    done = ShotStage.finished(folder)
    if done is not None:
        return done
    engine, config = _engine(job)
    loaded = _loaded_engine(engine, config, device)
    stage = ShotStage(folder, start, end)
    write_text(folder / _TASK, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}), durable=False)
    shot = ShotInput(start, end, lambda first: _shot_frames(job, size, start, times, first, end))
    loaded.run_shot(shot, stage, lambda i: None)
    return ShotStage.finished(folder)


class RayShots:
    """``ShotExecutor`` running each shot as a Ray task (see the module docstring)."""

    needs_scan = True

    def __init__(self, options: RayOptions, max_in_flight: int | None = None) -> None:
        self.options = options
        self.ray = connect(options)
        self._task_resources, slots = task_resources(self.ray, options)
        self.max_in_flight = max_in_flight or max(2, int(2 * slots))  # bounds the staged frames waiting on disk
        self._gpu = self._task_resources["num_gpus"] > 0

    def _remote(self, fn: Callable, **kw: Any) -> Any:
        return self.ray.remote(max_retries=MAX_RETRIES, **self._task_resources, **kw)(fn)

    def _device_job(self, job: DepthJob) -> DepthJob:
        import dataclasses

        if job.device is None:  # the task's resources decide: cuda on a GPU task, cpu otherwise
            return dataclasses.replace(job, device="cuda" if self._gpu else "cpu")
        return job

    def _get(self, ref: Any, what: str) -> Any:
        return fetch(self.ray, ref, what)

    def resolve(self, engine: Engine, config: Any, job: DepthJob) -> tuple[str, dict[str, Any]]:
        check_shared_paths(self.ray, [job.input], [job.output])
        self._job = self._device_job(job)
        return self._get(self._remote(resolve_task).remote(self._job), f"{job.input}: resolving the device")

    def load(self, engine: Engine, config: Any, device: str) -> dict[str, Any]:
        self._device, job = device, self._job
        return self._get(self._remote(load_task).remote(self._job, device), f"{job.input}: loading the engine")

    def run(self, pending: PendingShots, writer: DepthPassWriter, meter: Meter) -> None:
        job, device, opts = self._device_job(pending.job), self._device, self.options
        times = pending.timestamps
        assert times is not None  # needs_scan: run_depth scanned the frame times
        task = self._remote(shot_task)
        self._check_plan(writer)
        limit = opts.chunk_frames if opts.split_shots else None
        units = [c for start, end in pending.bounds for c in split_shot(start, end, limit, opts.chunk_overlap)]
        join = ChunkJoin(opts.chunk_overlap, metric=writer.info.kind == "metric_depth")
        todo, order = list(units), list(units)
        running: dict[Any, Chunk] = {}
        finished: dict[int, Chunk] = {}
        fed = meter.done  # frames the writer already holds
        new = {c.start: c.end - c.start - (0 if c.first else opts.chunk_overlap) for c in units}  # frames each adds
        while todo or running or finished:
            while todo and len(running) + len(finished) < self.max_in_flight:
                chunk = todo.pop(0)
                if ShotStage.finished(stage_folder(job.output, chunk.start)) is not None:
                    log.info("%s: frames %d-%d staged by an earlier run: reused", job.input, chunk.start,
                             chunk.end - 1)
                    finished[chunk.start] = chunk  # staged by a run of this job stopped before feeding it
                    continue
                window = times[max(0, chunk.start - 1) : chunk.end + 1]  # and the frames either side
                ref = task.remote(job, device, pending.size, chunk.start, chunk.end, window)
                running[ref] = chunk
            ready, _ = self.ray.wait(list(running), num_returns=1, timeout=POLL_S)
            for ref in ready:
                chunk = running.pop(ref)
                self._get(ref, f"{job.input}: frames {chunk.start}-{chunk.end - 1}")
                finished[chunk.start] = chunk
            while order and order[0].start in finished:
                chunk = finished.pop(order.pop(0).start)
                self._feed(writer, join, chunk)
                fed += new[chunk.start]
            staged = sum(new[s] for s in finished)
            in_stage = sum(len(finished_files(stage_folder(job.output, c.start), "*.npy")) for c in running.values())
            meter.report(min(fed + staged + in_stage, meter.frame_count or fed + staged + in_stage))

    def _check_plan(self, writer: DepthPassWriter) -> None:
        """Record how shots are split (``.work/cluster/plan.json``); a resumed run that splits otherwise would mix
        two approximations in one pass: ``DepthshotError``."""
        opts = self.options
        plan = ({"split_shots": True, "chunk_frames": opts.chunk_frames, "chunk_overlap": opts.chunk_overlap}
                if opts.split_shots else {"split_shots": False})
        path = writer.work_dir / STAGE_DIR / _PLAN
        if path.is_file() and json.loads(path.read_text()) != plan:
            was = json.loads(path.read_text())
            how = f"--ray-chunk-frames {was['chunk_frames']}" if was["split_shots"] else "--no-split-shots"
            raise DepthshotError(f"{writer.root}: this unfinished pass was started with {how}: run it again with the "
                                 "same option or remove the folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(plan))

    def _feed(self, writer: DepthPassWriter, join: ChunkJoin, chunk: Chunk) -> None:
        """Write one finished chunk through the pass writer, in order (a whole shot: its frames as staged); once
        its shot's last chunk is recorded, drop the shot's stages."""
        folder = stage_folder(writer.root, chunk.start)
        if chunk.first:
            writer.begin_shot(chunk.start)
        for i, depth, pts, mask in join.frames(chunk, lambda i: read_staged_frame(folder / f"{i:06d}.npy")):
            writer.write(i, depth, pts, mask)
        if chunk.last:
            writer.end_shot()
            folders = [stage_folder(writer.root, s) for s in self._chunk_starts(chunk)]
            writer.then(lambda: [shutil.rmtree(f, ignore_errors=True) for f in folders])

    def _chunk_starts(self, chunk: Chunk) -> list[int]:
        opts = self.options
        limit = opts.chunk_frames if opts.split_shots else None
        return [c.start for c in split_shot(chunk.shot_start, chunk.shot_end, limit, opts.chunk_overlap)]


def run_depth_ray(job: DepthJob, options: RayOptions,
                  on_progress: Callable[[Progress], None] | None = None) -> Path:
    """``run_depth`` with the shots computed on Ray (see the module docstring); same files as one process."""
    return run_depth(job, on_progress, executor=RayShots(options))
