"""Point clouds and meshes written by Ray tasks (``python -m core.pointcloud|core.mesh --ray``), the same files.

``core.geometry.cli.run_frames`` / ``run_shots`` do on the driver what they do for one process (the checks, the
depth pass, the poses, the output lock, the sweep of a killed run's partial files, and resume: only the frames or
shots whose file is missing) and hand the files to write to ``run_frame_tasks`` / ``run_shot_tasks``:

- frames: the frames to write, in order, cut into contiguous chunks (about 4 per task slot, at most
  ``_CHUNK_MAX`` frames); each chunk is a task calling ``write_frames``, the function the single process calls,
  with the command's own writer (each file atomic: ``core.atomic``). Progress: the driver watches each running
  chunk's next file appear (a file counts once it is not the one that was there when the run started).
- shots (``--fuse``, ``--tsdf``): each shot one task calling ``write_shot``; progress after each shot.

Geometry tasks are CPU tasks (``--ray-cpus-per-task``, no GPU). Inputs and outputs must be on a filesystem every
node mounts at the same path (``check_shared_paths``); tasks get absolute paths (another node has another working
folder). Faults: a task whose worker dies is retried by Ray (it rewrites its chunk, the same bytes); a killed
driver run again writes only the files still missing.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from core.cluster import MAX_RETRIES, RayOptions, check_shared_paths, connect, fetch, run_tasks, task_resources
from core.depth.depth_pass import DepthPass
from core.errors import disk_full_reported
from core.geometry.cli import FrameSource, write_frames, write_shot
from core.geometry.sequence import GeometryFrame

log = logging.getLogger(__name__)

_CHUNKS_PER_SLOT = 4
_CHUNK_MAX = 200  # frames per task at most: what a retry redoes, and the progress grain once a chunk is done

FrameWriter = Callable[[GeometryFrame, Path], None]
ShotWriter = Callable[[Iterator[GeometryFrame], Path], None]


def chunks(todo: Sequence[int], slots: float) -> list[list[int]]:
    """``todo`` (sorted frame indices) cut into contiguous chunks: about ``_CHUNKS_PER_SLOT`` per task slot (so
    that slots do not idle behind one slow chunk), at most ``_CHUNK_MAX`` frames each."""
    size = max(1, min(_CHUNK_MAX, math.ceil(len(todo) / max(1.0, _CHUNKS_PER_SLOT * slots))))
    return [list(todo[i : i + size]) for i in range(0, len(todo), size)]


def _stamp(path: Path) -> tuple[int, int] | None:
    """``(inode, mtime ns)`` of ``path``, None when it is missing: an atomic rewrite gives another stamp."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def _frames_task(shared: tuple[FrameSource, FrameWriter], indices: list[int], paths: list[Path]) -> int:
    """On a worker: write the files ``paths`` of frames ``indices``; how many."""
    source, write = shared
    path_of = dict(zip(indices, paths))
    with disk_full_reported(paths[0].parent, lambda: None):  # a full disk arrives as its one line
        write_frames(source.frames(indices), path_of.__getitem__, write)
    return len(indices)


def _shot_task(shared: tuple[FrameSource, ShotWriter], indices: list[int], path: Path) -> int:
    """On a worker: write one shot's file from its frames ``indices``; how many frames went in."""
    source, write = shared
    with disk_full_reported(path.parent, lambda: None):
        write_shot(source.frames(indices), path, write)
    return len(indices)


def _for_every_node(ray: Any, source: FrameSource, outputs: list[Path]) -> FrameSource:
    """``source`` with its pass opened at its absolute path (a task on another node has another working folder),
    once every node was found to read the pass and its video and to write beside ``outputs``."""
    source = dataclasses.replace(source, dp=DepthPass.open(source.dp.root.absolute()))
    video = source.dp.source_path()
    check_shared_paths(ray, [source.dp.root, *([video] if video is not None else [])], outputs)
    return source


def run_frame_tasks(options: RayOptions, source: FrameSource, todo: Sequence[int], out_path: Callable[[int], Path],
                    write: FrameWriter, on_frame: Callable[[int], None]) -> None:
    """Write the files of frames ``todo`` (sorted) as Ray tasks (see the module docstring); ``on_frame(index)``
    once for each file written, as the single process calls it (in order within a chunk)."""
    ray = connect(options)
    resources, slots = task_resources(ray, options, cpu_only=True)
    paths = {i: out_path(i).absolute() for i in todo}
    source = _for_every_node(ray, source, [paths[todo[0]]])
    parts = chunks(todo, slots)
    before = {i: _stamp(paths[i]) for i in todo}  # what --overwrite replaces: not written by this run
    seen = [0] * len(parts)  # files of each chunk reported so far (a chunk writes its frames in order)

    def report(k: int, upto: int) -> None:
        for i in parts[k][seen[k] : upto]:
            on_frame(i)
        seen[k] = max(seen[k], upto)

    def watch(k: int) -> None:
        n = seen[k]
        while n < len(parts[k]) and _stamp(paths[parts[k][n]]) not in (None, before[parts[k][n]]):
            n += 1
        report(k, n)

    task = ray.remote(max_retries=MAX_RETRIES, **resources)(_frames_task)
    shared = ray.put((source, write))
    log.info("%d frames in %d Ray tasks", len(todo), len(parts))
    def ready(k: int, ref: Any) -> bool:
        fetch(ray, ref, f"{source.dp.root}: frames {parts[k][0]}-{parts[k][-1]}")  # a failure: its one line
        report(k, len(parts[k]))
        return True

    run_tasks(ray, range(len(parts)), lambda k: task.remote(shared, parts[k], [paths[i] for i in parts[k]]), slots,
              ready, watch)


def run_shot_tasks(options: RayOptions, source: FrameSource, shots: Sequence[tuple[list[int], Path]],
                   write: ShotWriter, on_frames: Callable[[int], None]) -> None:
    """Write one file per shot as Ray tasks, each shot ``(its frame indices, its file)`` one task calling
    ``write_shot``; ``on_frames(n)`` with the shot's frame count once its file is written."""
    if not shots:
        return
    ray = connect(options)
    resources, slots = task_resources(ray, options, cpu_only=True)
    shots = [(indices, path.absolute()) for indices, path in shots]
    source = _for_every_node(ray, source, [shots[0][1]])
    task = ray.remote(max_retries=MAX_RETRIES, **resources)(_shot_task)
    shared = ray.put((source, write))
    def ready(k: int, ref: Any) -> bool:
        fetch(ray, ref, str(shots[k][1]))
        on_frames(len(shots[k][0]))
        return True

    run_tasks(ray, range(len(shots)), lambda k: task.remote(shared, *shots[k]), slots, ready)
