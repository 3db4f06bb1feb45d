"""Command-line plumbing shared by ``python -m core.pointcloud`` and ``python -m core.mesh``.

INPUT is a depth pass folder (read as is) or a video (depth is computed first with ``core.depth.run_depth`` into
``--pass-dir``, default ``OUT/depth_pass``; that job resumes if interrupted). Each frame's file is written
atomically, so a run that is stopped resumes where it left off; ``--overwrite`` redoes existing files.

``--ray [ADDRESS]``: the files are written by Ray tasks (``core.cluster.geometry``: contiguous chunks of frames, or
one shot each) calling the same ``write_frames`` / ``write_shot`` as one process; the checks, poses, output lock,
resume and progress stay here on the driver. A video INPUT gets its depth pass on Ray first (``RayShots``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.atomic import sweep_partials
from core.cli import (
    ArgumentParser,
    add_decode_errors_argument,
    add_ray_arguments,
    connect_ray,
    ray_options,
    setup_logging,
)
from core.depth.depth_pass import LOCK_FILE, DepthPass
from core.depth.job import DepthJob, add_engine_arguments, ensure_pass
from core.errors import DepthshotError, disk_full_reported
from core.lock import claim_output
from core.geometry.camera import DEFAULT_HFOV_DEG, DEFAULT_NEAR, DEFAULT_NEAR_FAR_RATIO, DepthRange
from core.geometry.edges import DEFAULT_MAX_ANGLE_DEG, EdgeRule
from core.geometry.poses import Trajectory, load_pose_file, pass_trajectory, pose_units, record_in_pass
from core.geometry.sequence import CameraOptions, GeometryFrame, is_depth_pass, iter_frames, parse_frames
from core.video import probe

log = logging.getLogger(__name__)


def add_camera_arguments(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The camera options (intrinsics, relative depth range) of every command that unprojects a pass."""
    cam = p.add_argument_group("camera")
    cam.add_argument("--fov", type=float, help=f"horizontal field of view in degrees (default: the pass's "
                     f"intrinsics when known, else {DEFAULT_HFOV_DEG:g})")
    for name in ("fx", "fy", "cx", "cy"):
        cam.add_argument(f"--{name}", type=float, help=f"explicit {name} in pixels of the depth pass")
    cam.add_argument("--near", type=float, default=DEFAULT_NEAR,
                     help="relative depth: depth of the nearest point (default %(default)s)")
    cam.add_argument("--near-far-ratio", type=float, default=DEFAULT_NEAR_FAR_RATIO,
                     help="relative depth: farthest / nearest depth within a shot (default %(default)s)")
    return cam


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The arguments both geometry commands share; the caller adds its own."""
    p = ArgumentParser(prog=prog, description=description)
    p.add_argument("input", metavar="INPUT", type=Path, help="a depth pass folder, or a video to compute depth for")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder (one file per frame)")
    p.add_argument("--frames", help="frames to write, e.g. 0-99, 120, 200-, 0-99:5 (default: all)")
    p.add_argument("--overwrite", action="store_true", help="rewrite frames whose file already exists")
    p.add_argument("--poses", metavar="FILE|estimate",
                   help="write in world space (each shot its own world): camera poses from a TUM, COLMAP "
                        "images.txt or JSON file, or 'estimate' (the poses the pass records, else estimated "
                        "with python -m core.poses and recorded)")
    cam = add_camera_arguments(p)
    cam.add_argument("--edge-angle", type=float, default=DEFAULT_MAX_ANGLE_DEG,
                     help="cut at depth discontinuities steeper than this angle between view ray and surface, "
                          "in degrees; 90 = no edge filter (default %(default)s)")
    cam.add_argument("--no-edge-filter", action="store_true", help="keep flying pixels (same as --edge-angle 90)")
    cam.add_argument("--keep-filled", action="store_true",
                     help="also use pixels the pass's validity mask flags as filled or unreliable (confidence 0)")
    dep = add_engine_arguments(p, "depth (when INPUT is a video)")
    dep.add_argument("--pass-dir", type=Path, help="where to write the depth pass (default OUT/depth_pass)")
    add_decode_errors_argument(dep)
    add_ray_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def open_input(args: argparse.Namespace) -> DepthPass:
    """The depth pass to read: INPUT itself, or the pass computed from the video INPUT."""
    src: Path = args.input
    if not src.exists():
        raise DepthshotError(f"{src}: no such file or folder")
    if is_depth_pass(src):
        return DepthPass.open(src)
    if src.is_dir():
        raise DepthshotError(f"{src}: a folder but not a depth pass (no depth_pass.json)")
    probe(src)  # not a video: a clear error before the engine starts
    job = DepthJob.from_args(args, src, args.pass_dir or args.output / "depth_pass",
                             ignore_decode_errors=args.ignore_decode_errors)
    options = ray_options(args)
    if options is None:
        return ensure_pass(src, job)
    from core.cluster.depth import RayShots

    return ensure_pass(src, job, executor=RayShots(options))


def camera_options(args: argparse.Namespace) -> CameraOptions:
    """Camera and depth-range options from the parsed arguments."""
    return CameraOptions(
        fov_deg=args.fov, fx=args.fx, fy=args.fy, cx=args.cx, cy=args.cy,
        depth_range=DepthRange(near=args.near, ratio=args.near_far_ratio),
    )


def edge_rule(args: argparse.Namespace) -> EdgeRule:
    """The discontinuity rule from ``--edge-angle`` / ``--no-edge-filter``."""
    return EdgeRule(max_angle_deg=90.0 if args.no_edge_filter else args.edge_angle)


def resolve_poses(args: argparse.Namespace, dp: DepthPass, camera: CameraOptions) -> Trajectory | None:
    """The trajectory ``--poses`` asks for (None without the option)."""
    spec = getattr(args, "poses", None)
    if spec is None:
        return None
    if spec != "estimate":
        return load_pose_file(spec, dp.info.timestamps)
    recorded = pass_trajectory(dp)
    if recorded is not None and recorded.source == "estimate":
        return recorded
    from core.geometry.odometry import estimate_pass_poses  # Open3D odometry only when needed

    with tqdm(total=len(dp), unit="frame", desc="poses") as bar:
        traj = estimate_pass_poses(dp, camera, on_frame=lambda: bar.update())
    record_in_pass(dp, traj, pose_units(dp, camera.depth_range))
    return traj


@dataclass(frozen=True)
class FrameSource:
    """Where a command's frames come from: the pass ``dp``, the ``camera``, ``keep_filled`` (see ``iter_frames``)
    and ``poses`` (N, 4, 4) world-from-camera of every pass frame (None: camera space)."""

    dp: DepthPass
    camera: CameraOptions
    keep_filled: bool = False
    poses: np.ndarray | None = None

    def frames(self, indices: Sequence[int]) -> Iterator[GeometryFrame]:
        """The frames ``indices`` (sorted), each carrying its pose when there are poses; the source video is
        checked now (``iter_frames``), the frames are read as they are taken."""
        frames = iter_frames(self.dp, indices, self.camera, keep_filled=self.keep_filled)
        return frames if self.poses is None else self._posed(frames)

    def _posed(self, frames: Iterator[GeometryFrame]) -> Iterator[GeometryFrame]:
        for frame in frames:
            frame.pose = self.poses[frame.index]
            yield frame


def write_frames(frames: Iterator[GeometryFrame], out_path: Callable[[int], Path],
                 write: Callable[[GeometryFrame, Path], None],
                 on_frame: Callable[[int], None] | None = None) -> None:
    """``write(frame, out_path(frame.index))`` for each of ``frames``; ``on_frame(index)`` after each. What one
    process and every Ray task of ``run_frames`` run."""
    for frame in frames:
        write(frame, out_path(frame.index))
        if on_frame is not None:
            on_frame(frame.index)


def write_shot(frames: Iterator[GeometryFrame], path: Path, write: Callable[[Iterator[GeometryFrame], Path], None],
               on_frame: Callable[[], None] | None = None) -> None:
    """``write(frames, path)``, one shot's file; ``on_frame()`` after each frame ``write`` took. What one process
    and every Ray task of ``run_shots`` run."""

    def counted() -> Iterator[GeometryFrame]:
        for frame in frames:
            yield frame
            if on_frame is not None:
                on_frame()

    write(counted(), path)


def run_frames(
    args: argparse.Namespace,
    out_path: Callable[[int], Path],
    write: Callable[[GeometryFrame, Path], None],
    check: Callable[[DepthPass], None] | None = None,
) -> int:
    """Open the input, then for every selected frame whose file ``out_path(index)`` is missing (or all with
    ``--overwrite``) call ``write(frame, path)``, with a progress bar. ``check(pass)`` validates the command's
    own options against the pass before anything is written. Returns the number of frames written."""
    camera = camera_options(args)  # validate options before any long job starts
    if args.output.exists() and not args.output.is_dir():
        raise DepthshotError(f"{args.output}: exists and is not a folder")
    connect_ray(ray_options(args))  # Ray missing or unreachable: one line, before any input
    dp = open_input(args)
    if check is not None:
        check(dp)
    traj = resolve_poses(args, dp, camera)
    selected = parse_frames(args.frames, len(dp))
    todo = [i for i in selected if args.overwrite or not out_path(i).exists()]
    if len(todo) < len(selected):
        log.info("%d of %d frames already written, skipping them", len(selected) - len(todo), len(selected))
    source = FrameSource(dp, camera, args.keep_filled, None if traj is None else traj.poses)
    frames = source.frames(todo)  # checks the source video before the output is claimed
    written: list[int] = []

    def needed() -> int:  # frames left at the size of those written (or 20 bytes per pixel before the first)
        sizes = [out_path(i).stat().st_size for i in written[-8:] if out_path(i).exists()]
        per_frame = sum(sizes) / len(sizes) if sizes else dp.info.width * dp.info.height * 20
        return int(per_frame * (len(todo) - len(written)))

    def done(index: int) -> None:
        written.append(index)
        bar.update()

    with claim_output(args.output, args.output / LOCK_FILE), disk_full_reported(args.output, needed), \
            tqdm(total=len(todo), unit="frame", disable=not todo) as bar:
        sweep_partials(args.output)  # files a killed run was writing
        options = ray_options(args)
        if options is None:
            write_frames(frames, out_path, write, done)
        elif todo:
            from core.cluster.geometry import run_frame_tasks

            run_frame_tasks(options, source, todo, out_path, write, done)
    return len(todo)


def run_shots(
    args: argparse.Namespace,
    out_path: Callable[[int], Path],
    write: Callable[[Iterator[GeometryFrame], Path], None],
    on_frame: Callable[[int, int], None] | None = None,
) -> int:
    """World-space scenes, one per shot: for each shot with selected frames whose file ``out_path(shot index)`` is
    missing (or all with ``--overwrite``) call ``write(frames, path)`` with the shot's frames carrying their poses
    (``--poses``, default ``estimate``); frames whose pose was not tracked are left out. Returns the shots written.

    Progress: ``on_frame(done, total)`` after each frame handed to ``write`` (frames of the shots to write), or a
    bar per shot without it; with ``--ray`` (each shot a task) after each shot written, or one bar."""
    if getattr(args, "poses", None) is None:
        args.poses = "estimate"
    camera = camera_options(args)
    connect_ray(ray_options(args))  # Ray missing or unreachable: one line, before any input
    dp = open_input(args)
    traj = resolve_poses(args, dp, camera)
    selected = set(parse_frames(args.frames, len(dp)))
    if args.output.exists() and not args.output.is_dir():
        raise DepthshotError(f"{args.output}: exists and is not a folder")
    plan: list[tuple[int, list[int]]] = []  # (shot index, its frames to fuse) for each file to write
    for shot in dp.info.shots:
        todo = [i for i in range(shot.start, shot.end) if i in selected and traj.valid[i]]
        skipped = sum(1 for i in range(shot.start, shot.end) if i in selected and not traj.valid[i])
        if skipped:
            log.warning("shot %d: %d frames without a tracked pose are left out", shot.index, skipped)
        if todo and (args.overwrite or not out_path(shot.index).exists()):
            plan.append((shot.index, todo))
    total = sum(len(todo) for _, todo in plan)
    source = FrameSource(dp, camera, args.keep_filled, traj.poses)
    source.frames([])  # checks the source video before the output is claimed
    done = 0

    def count(frames: int = 1) -> None:
        nonlocal done
        done += frames
        if on_frame is not None:
            on_frame(done, total)

    options = ray_options(args)
    with claim_output(args.output, args.output / LOCK_FILE), disk_full_reported(args.output, lambda: None):
        sweep_partials(args.output)
        if options is not None:
            from core.cluster.geometry import run_shot_tasks

            with tqdm(total=total, unit="frame", desc="shots", disable=on_frame is not None or not plan) as bar:

                def shot_done(frames: int) -> None:
                    count(frames)
                    bar.update(frames)

                run_shot_tasks(options, source, [(todo, out_path(s)) for s, todo in plan], write, shot_done)
            return len(plan)
        for shot_index, todo in plan:
            frames = source.frames(todo)
            if on_frame is None:
                frames = tqdm(frames, total=len(todo), unit="frame", desc=f"shot {shot_index}")
            write_shot(frames, out_path(shot_index), write, count)
    return len(plan)


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and set up logging."""
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return args
