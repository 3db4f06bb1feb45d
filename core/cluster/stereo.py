"""A stereo conversion's closed segments as Ray tasks, joined on the driver into the single-process file.

``run_stereo_ray(job, options)`` does on the driver what ``core.stereo.convert.run_stereo`` does before and after
its frames: ``plan_stereo`` checks the job, makes the depth pass when there is none (its shots as Ray tasks,
``core.cluster.depth.RayShots``) and computes what needs the whole shot (auto-convergence) once; the frame times
of the window come from a demux (``frame_times``, no decoding). Each segment still to do (``SegmentedWriter``'s
work folder, ``.<output name>.work/`` on the shared filesystem) is a task: it seeks to the segment's first frame
(``StereoPlan.span``), renders it with ``render_segment`` (the single-process path's function) into
``spec.open(k)`` and returns the segment's record; the driver lists it (``SegmentedWriter.record``, any order) and,
once all are there, joins them by stream copy and remuxes the audio and subtitles once, as the single-process run
does.

Progress: a task is a Ray streaming generator that yields its count of frames rendered after every frame, then
its record; the driver waits on all running tasks at once and reports frames done of all segments (stage
"stereo") through ``on_progress`` as they come. Ray does not hand on again what a retried task yields a second
time, so the count never goes back.

Faults: a task whose worker dies is retried by Ray; a killed driver run again keeps the segments it listed and
renders only the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.cluster import MAX_RETRIES, RayOptions, check_shared_paths, connect, fetch, run_tasks, task_resources
from core.errors import DepthshotError
from core.progress import OnProgress, Stage
from core.stereo.convert import StereoJob, StereoPlan, open_writer, plan_stereo, render_segment
from core.video import SegmentSpec, Sink, frame_times


log = logging.getLogger(__name__)

_ENCODE_QUEUE = 4  # rendered frames waiting for the task's encoder


def segment_task(plan: StereoPlan, spec: SegmentSpec, k: int, before: float | None, times: list[float],
                 after: float | None) -> Iterator[int | dict[str, Any]]:
    """On a worker: render segment ``k`` (the frames at ``times``, ``plan.span``) into ``spec.path(k)``. Yields
    the frames rendered so far after each frame (1, 2, ..., one item per frame: a retried task yields the same
    items), then the segment's record."""
    _, synth, packer = plan.stages()
    segment = spec.open(k)
    try:
        with Sink(segment.write, maxsize=_ENCODE_QUEUE) as encode:  # encodes while the next frames are warped
            rendered = render_segment(synth, packer, plan.deep, plan.span(times, before, after))
            for n, (image, pts) in enumerate(rendered, start=1):
                encode.put(image, pts)
                yield n
        record = spec.finish(segment, times[-1])
    except BaseException:
        segment.abort()
        raise
    yield record


def run_stereo_ray(job: StereoJob, options: RayOptions, on_progress: OnProgress | None = None) -> Path:
    """``run_stereo`` with the segments rendered as Ray tasks (see the module docstring); the same video."""
    from core.cluster.depth import RayShots

    if job.preview_frame is not None:
        raise DepthshotError("--preview-frame renders one frame: run it without --ray")
    ray = connect(options)
    resources, slots = task_resources(ray, options)
    device = job.device if job.device != "auto" else ("cuda" if resources["num_gpus"] else "cpu")
    plan, _ = plan_stereo(job, on_progress, device=device, depth_executor=RayShots(options))
    check_shared_paths(ray, [job.input, plan.depth_path], [plan.output])
    times = frame_times(job.input, job.start, job.end)
    if not times:
        raise DepthshotError(f"{job.input}: no video frames in the window")
    size = plan.segment_frames
    spans = [times[i : i + size] for i in range(0, len(times), size)]
    with open_writer(plan) as writer:
        if writer.complete:
            return plan.output
        shared = ray.put((plan, writer.spec))
        task = ray.remote(max_retries=MAX_RETRIES, **resources)(_task)
        kept = {k: s for k, s in writer.finished.items() if k < len(spans)}
        if kept:
            log.info("%s: %d of %d segments (%d frames) finished by an earlier run: reused", plan.output, len(kept),
                     len(spans), sum(s["frames"] for s in kept.values()))
        todo = [k for k in range(len(spans)) if k not in kept]
        rendered: dict[int, int] = {}  # frames each running task has rendered so far

        def submit(k: int) -> Any:  # a streaming generator: per-frame counts, then the segment's record
            before = spans[k - 1][-1] if k > 0 else None
            after = spans[k + 1][0] if k + 1 < len(spans) else None
            return task.remote(shared, k, before, spans[k], after)

        def ready(k: int, gen: Any) -> bool:
            item = fetch(ray, next(gen), f"{job.input}: stereo frames {k * size}-{k * size + len(spans[k]) - 1}")
            frames = item if isinstance(item, int) else item["frames"]
            if frames > rendered.get(k, 0):
                stage.update(frames - rendered.get(k, 0))
                rendered[k] = frames
            if isinstance(item, int):
                return False
            writer.record(k, item)  # the segment's record: its file is on disk
            return True

        with Stage(on_progress, "stereo", len(times), done=sum(s["frames"] for s in kept.values())) as stage:
            run_tasks(ray, todo, submit, slots, ready)
    return plan.output


def _task(shared: tuple[StereoPlan, SegmentSpec], k: int, before: float | None, times: list[float],
          after: float | None) -> Iterator[int | dict[str, Any]]:
    plan, spec = shared
    yield from segment_task(plan, spec, k, before, times, after)

