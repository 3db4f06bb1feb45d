"""``python -m core.viewer DIR``: play a point-cloud sequence (the PLY files of DIR) in an Open3D window;
``--screenshots OUT`` renders the frames to PNG without a display instead (see :mod:`core.viewer.screenshots`).

``--pass PASS`` (the depth pass the clouds were made from) shows them as filmed: the pass's lens (field of view,
principal point, the window at the frame's aspect) and its frame rate, frames placed by their index (files
``000123.ply``). ``--follow`` (world-space clouds, ``core.pointcloud --poses``) moves the camera along the
trajectory the pass records; ``--orbit`` turns it about the scene, and in the window the mouse orbits freely.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from core.cli import ArgumentParser, StageBars, run_main, setup_logging
from core.geometry.camera import DEFAULT_HFOV_DEG
from core.geometry.sequence import parse_frames
from core.errors import DepthshotError
from core.viewer.camera import Filmed, View
from core.viewer.frames import frame_index, list_frames
from core.viewer.playback import Playback


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def main(argv: Sequence[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m core.viewer", description=__doc__.split("\n\n")[0])
    p.add_argument("folder", metavar="DIR", type=Path, help="folder of .ply point clouds (python -m core.pointcloud)")
    p.add_argument("--screenshots", metavar="OUT", type=Path, help="render the frames to OUT/<frame>.png, headless")
    p.add_argument("--frames", help="frames to show by position in DIR, e.g. 0-99:5 (default: all)")
    p.add_argument("--fps", type=float, help="playback frame rate (default: the --pass clip's, else 10)")
    p.add_argument("--pass", dest="depth_pass", type=Path, metavar="PASS",
                   help="the depth pass the clouds come from: its lens, frame rate (and poses with --follow)")
    p.add_argument("--follow", action="store_true",
                   help="world-space clouds: the camera follows the poses recorded in --pass")
    p.add_argument("--speed", type=float, default=1.0, help="playback speed factor (default %(default)s)")
    p.add_argument("--no-loop", action="store_true", help="stop at the last frame")
    p.add_argument("--paused", action="store_true", help="start paused")
    p.add_argument("--fov", type=float, default=DEFAULT_HFOV_DEG,
                   help="horizontal field of view in degrees; the clouds' own shows each frame as filmed "
                        "(default %(default)s)")
    p.add_argument("--orbit", type=float, default=0.0, help="yaw of the camera about the scene centre, degrees")
    p.add_argument("--point-size", type=float, default=2.0, help="point size in pixels (default %(default)s)")
    p.add_argument("--size", type=_size, help="window/image size WxH (default 960x540, or 960 wide at the "
                                              "--pass frame's aspect)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    files = list_frames(args.folder)
    files = [files[i] for i in parse_frames(args.frames, len(files))]
    filmed = _filmed(args.depth_pass, args.follow) if args.depth_pass is not None else None
    if args.follow and filmed is None:
        raise DepthshotError("--follow needs --pass PASS (the poses are the pass's)")
    size = args.size
    if size is None:
        size = (960, 540) if filmed is None else (960, max(16, round(960 * filmed.intrinsics.height
                                                                      / filmed.intrinsics.width)))
    hfov = args.fov if filmed is None else filmed.intrinsics.hfov_deg
    view = View(hfov_deg=hfov, orbit_deg=args.orbit, point_size=args.point_size, size=size)
    fps = args.fps or (filmed.fps if filmed is not None else 10.0)
    if args.screenshots is not None:
        from core.viewer.screenshots import render_screenshots

        with StageBars() as bars:
            render_screenshots(files, args.screenshots, view, filmed, on_progress=bars)
        return 0
    from core.viewer.window import play

    indices = [frame_index(f) for f in files]
    count = indices[-1] - indices[0] + 1 if filmed is not None and min(indices) >= 0 else len(files)
    if filmed is not None and min(indices) < 0:
        raise DepthshotError(f"{args.folder}: with --pass the files must be named by frame index (000123.ply)")
    play(files, Playback(count, fps=fps, speed=args.speed, loop=not args.no_loop, playing=not args.paused),
         view, filmed)
    return 0


def _filmed(path: Path, follow: bool) -> Filmed:
    """The lens, frame rate and (``follow``) poses of the depth pass at ``path``."""
    from core.depth.depth_pass import DepthPass
    from core.geometry.poses import pass_trajectory
    from core.geometry.sequence import CameraOptions

    dp = DepthPass.open(path)
    poses = None
    if follow:
        traj = pass_trajectory(dp)
        if traj is None:
            raise DepthshotError(f"{path}: the pass records no poses (python -m core.poses {path} -o poses.txt)")
        poses = {i: traj.poses[i] for i in range(len(traj))}
    return Filmed(CameraOptions().intrinsics(dp), dp.info.fps, poses)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
