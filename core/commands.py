"""``depthshot COMMAND ...``: the console script; each command is the ``main(argv)`` of a ``python -m core.*`` module.

``depthshot depth clip.mp4 -o clip_depth`` is ``python -m core.depth clip.mp4 -o clip_depth``, and so on for every
name in ``COMMANDS``. A command's module is imported only when it is run, so ``depthshot --help`` imports no torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from core.cli import run_main
from core.errors import DepthshotError

# command -> (module whose main(argv) runs it, one line for the help)
COMMANDS: dict[str, tuple[str, str]] = {
    "depth": ("core.depth.__main__", "compute a video's depth pass (python -m core.depth)"),
    "stereo": ("core.stereo.__main__", "stereo 3D video from a video and its depth (python -m core.stereo)"),
    "pointcloud": ("core.pointcloud", "point clouds from a depth pass or a video (python -m core.pointcloud)"),
    "mesh": ("core.mesh", "meshes from a depth pass or a video (python -m core.mesh)"),
    "view": ("core.viewer.__main__", "play point clouds, or render them headless (python -m core.viewer)"),
    "import": ("core.depth.import_depth", "import depth from other tools (python -m core.depth.import_depth)"),
    "export": ("core.depth.export", "export a depth pass for other tools (python -m core.depth export)"),
    "poses": ("core.poses", "estimate or import camera poses (python -m core.poses)"),
    "video": ("core.video.__main__", "video info and transcoding (python -m core.video)"),
    "bench": ("core.bench.__main__", "benchmarks (python -m core.bench)"),
    "worker": ("core.worker", "the JSON-lines depth worker the Blender add-on runs (python -m core.worker)"),
}


def usage() -> str:
    """The ``depthshot --help`` text: one line per command."""
    from core import __version__

    width = max(map(len, COMMANDS))
    lines = [f"usage: depthshot COMMAND [options]   (depthshot {__version__}; depthshot COMMAND --help)", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def dispatch(argv: Sequence[str]) -> int:
    """Run ``argv[0]``'s command with the rest of ``argv``; DepthshotError for an unknown command."""
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from core import __version__

        print(f"depthshot {__version__}")
        return 0
    name, rest = argv[0], list(argv[1:])
    if name not in COMMANDS:
        raise DepthshotError(f"unknown command {name!r} (expected one of {', '.join(COMMANDS)}; see depthshot --help)")
    return int(importlib.import_module(COMMANDS[name][0]).main(rest) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: the command's exit status (2 and one ``error:`` line on bad input)."""
    return run_main(dispatch, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
