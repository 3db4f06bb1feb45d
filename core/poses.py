"""``python -m core.poses PASS -o poses.txt``: camera poses per frame of a depth pass, in the TUM format.

Estimates world-from-camera poses from the pass's video and measured depth (see :mod:`core.geometry.odometry`:
Open3D RGB-D odometry, key frames, loop closures, a pose graph per shot; a cut restarts the trajectory), or
imports them with ``--import FILE`` (TUM, COLMAP ``images.txt``, JSON 4x4 list: see :mod:`core.geometry.poses`).
Writes ``-o`` as a TUM trajectory (``timestamp tx ty tz qx qy qz qw``, the pass's timestamps) and records the
poses in the pass's manifest (``poses``: per frame the 4x4 matrix in OpenCV axes, a Blender camera
``matrix_world``, whether tracking held, fitness and inliers), unless ``--no-record``. ``--json`` also writes the
JSON 4x4 list.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.cli import run_main, setup_logging
from core.depth.depth_pass import DepthPass
from core.errors import DepthshotError
from core.geometry.cli import add_camera_arguments, camera_options
from core.geometry.odometry import OdometryConfig
from core.geometry.poses import (
    Trajectory,
    load_pose_file,
    pose_units,
    record_in_pass,
    write_json_poses,
    write_tum,
)

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of ``python -m core.poses`` (also how the Blender worker's ``poses`` task states a job)."""
    p = argparse.ArgumentParser(prog="python -m core.poses", description=__doc__.split("\n\n")[0])
    p.add_argument("input", metavar="PASS", type=Path, help="a depth pass folder")
    p.add_argument("-o", "--output", required=True, type=Path, help="TUM trajectory file to write")
    p.add_argument("--import", dest="import_file", type=Path, metavar="FILE",
                   help="take the poses from a TUM, COLMAP images.txt or JSON file instead of estimating them")
    p.add_argument("--json", type=Path, help="also write the poses as a JSON list of 4x4 matrices")
    p.add_argument("--no-record", action="store_true", help="do not record the poses in the pass's manifest")
    p.add_argument("--scale", type=float, default=OdometryConfig.scale,
                   help="odometry image scale, 0.1..1 (default %(default)s: a quarter of the pixels)")
    add_camera_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p.parse_args(argv)


def run(args: argparse.Namespace, on_frame: Callable[[int, int], None] | None = None) -> Trajectory:
    """Estimate or import the poses ``args`` ask for, write them and record them in the pass; the trajectory.

    ``on_frame(done, total)`` after each frame estimated (frames of the pass)."""
    camera = camera_options(args)
    if args.output.suffix.lower() == ".json":
        raise DepthshotError(f"{args.output}: -o writes a TUM text trajectory; use --json for JSON")
    dp = DepthPass.open(args.input)
    if args.import_file is not None:
        traj = load_pose_file(args.import_file, dp.info.timestamps)
    else:
        from core.geometry.odometry import estimate_pass_poses  # Open3D odometry only when estimating

        config = OdometryConfig(scale=args.scale)
        done = [0]

        def frame_done() -> None:
            done[0] += 1
            if on_frame is not None:
                on_frame(done[0], len(dp))

        traj = estimate_pass_poses(dp, camera, config, on_frame=frame_done)
    units = pose_units(dp, camera.depth_range)
    write_tum(args.output, np.asarray(dp.info.timestamps), traj.poses, comment=f"depthshot poses of {dp.root} ({units})")
    if args.json is not None:
        write_json_poses(args.json, traj.poses)
    if not args.no_record:
        record_in_pass(dp, traj, units, file=str(args.output))
    failed = np.flatnonzero(~traj.valid)
    if len(failed):
        log.warning("tracking failed on %d frames (first: %s)", len(failed), ", ".join(map(str, failed[:10])))
    return traj


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    with tqdm(unit="frame", desc="poses") as bar:
        def on_frame(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        traj = run(args, on_frame)
    failed = np.flatnonzero(~traj.valid)
    print(f"wrote {len(traj)} poses to {args.output}; median fitness {np.median(traj.fitness):.2f}, "
          f"{len(failed)} frames flagged")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
