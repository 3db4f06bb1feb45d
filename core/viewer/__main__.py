"""``python -m core.viewer DIR``: play a point-cloud sequence (the PLY files of DIR) in an Open3D window;
``--screenshots OUT`` renders the frames to PNG without a display instead (see :mod:`core.viewer.screenshots`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from core.cli import ArgumentParser, run_main, setup_logging
from core.geometry.camera import DEFAULT_HFOV_DEG
from core.geometry.sequence import parse_frames
from core.viewer.camera import View
from core.viewer.frames import list_frames
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
    p.add_argument("--fps", type=float, default=10.0, help="playback frame rate (default %(default)s)")
    p.add_argument("--speed", type=float, default=1.0, help="playback speed factor (default %(default)s)")
    p.add_argument("--no-loop", action="store_true", help="stop at the last frame")
    p.add_argument("--paused", action="store_true", help="start paused")
    p.add_argument("--fov", type=float, default=DEFAULT_HFOV_DEG,
                   help="horizontal field of view in degrees; the clouds' own shows each frame as filmed "
                        "(default %(default)s)")
    p.add_argument("--orbit", type=float, default=0.0, help="yaw of the camera about the scene centre, degrees")
    p.add_argument("--point-size", type=float, default=2.0, help="point size in pixels (default %(default)s)")
    p.add_argument("--size", type=_size, default=(960, 540), help="window/image size WxH (default 960x540)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    files = list_frames(args.folder)
    files = [files[i] for i in parse_frames(args.frames, len(files))]
    view = View(hfov_deg=args.fov, orbit_deg=args.orbit, point_size=args.point_size, size=args.size)
    if args.screenshots is not None:
        from core.viewer.screenshots import render_screenshots

        render_screenshots(files, args.screenshots, view)
        return 0
    from core.viewer.window import play

    play(files, Playback(len(files), fps=args.fps, speed=args.speed, loop=not args.no_loop, playing=not args.paused),
         view)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
