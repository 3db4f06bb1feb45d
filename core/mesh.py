"""``python -m core.mesh INPUT -o DIR [--format glb|obj|ply] [--frames ...]``: one textured grid mesh per frame.

INPUT is a depth pass or a video (see :mod:`core.geometry.cli`). Files are ``DIR/000000.glb`` ... named by the
pass's frame index, in Blender/glTF camera axes (y up, camera at the origin looking down -z).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.cli import run_main
from core.depth.depth_pass import DepthPass
from core.errors import DepthshotError
from core.geometry.cli import build_parser, edge_rule, parse, run_frames
from core.geometry.mesh import MESH_FORMATS, MeshConfig, depth_to_mesh, mesh_path, write_mesh
from core.geometry.sequence import GeometryFrame


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser("python -m core.mesh", "Write one textured, displaced grid mesh per frame.")
    parser.add_argument("--format", choices=MESH_FORMATS, default="glb", help="file format (default glb)")
    parser.add_argument("--stride", type=int, default=2,
                        help="one vertex every N pixels in x and y (default 2: a 1080p frame has 1M triangles)")
    args = parse(parser, argv)
    config = MeshConfig(stride=args.stride, edges=edge_rule(args))

    def write(frame: GeometryFrame, path: Path) -> None:
        mesh = depth_to_mesh(frame.depth, frame.image, frame.intrinsics, config, name=path.stem)
        write_mesh(path, mesh)

    def check(dp: DepthPass) -> None:
        if args.stride >= min(dp.info.width, dp.info.height):
            raise DepthshotError(f"--stride {args.stride} is not below the pass's {dp.info.width}x{dp.info.height} "
                                 "frame size: no triangle would fit")

    run_frames(args, lambda i: mesh_path(args.output, i, args.format), write, check)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
