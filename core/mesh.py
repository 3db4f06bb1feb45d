"""``python -m core.mesh INPUT -o DIR [--format glb|obj|ply] [--frames ...]``: one textured grid mesh per frame.

INPUT is a depth pass or a video (see :mod:`core.geometry.cli`). Files are ``DIR/000000.glb`` ... named by the
pass's frame index, in Blender/glTF camera axes (y up, camera at the origin looking down -z).

``--poses FILE|estimate`` places each frame's mesh in its shot's world (glTF axes of the shot's first camera for
estimated poses); ``--tsdf VOXEL`` integrates each shot into an Open3D scalable TSDF volume and writes one
vertex-coloured mesh per shot instead, ``DIR/shot_000.glb``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from core.cli import run_main
from core.depth.depth_pass import DepthPass
from core.errors import DepthshotError
from core.geometry.cli import build_parser, edge_rule, parse, run_frames, run_shots
from core.geometry.fusion import TsdfConfig, tsdf_mesh
from core.geometry.mesh import MESH_FORMATS, MeshConfig, depth_to_mesh, mesh_path, write_mesh
from core.geometry.poses import CV_TO_GL
from core.geometry.sequence import GeometryFrame


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of ``python -m core.mesh`` (logging set up)."""
    parser = build_parser("python -m core.mesh", "Write one textured, displaced grid mesh per frame.")
    parser.add_argument("--format", choices=MESH_FORMATS, default="glb", help="file format (default glb)")
    parser.add_argument("--stride", type=int, default=2,
                        help="one vertex every N pixels in x and y (default 2: a 1080p frame has 1M triangles)")
    parser.add_argument("--tsdf", type=float, metavar="VOXEL",
                        help="one fused mesh per shot from a TSDF volume with this voxel size (scene units; "
                             "metric: metres, e.g. 0.01), DIR/shot_000.FORMAT; poses: --poses, default estimate")
    return parse(parser, argv)


def run(args: argparse.Namespace, on_frame: Callable[[int, int], None] | None = None) -> None:
    """Write the meshes ``args`` ask for. With ``--tsdf``, ``on_frame(done, total)`` after each frame fused
    (a bar per shot without it); per-frame meshes draw their own bar."""
    if args.tsdf is not None:
        config = TsdfConfig(voxel=args.tsdf)

        def write_shot(frames: Iterator[GeometryFrame], path: Path) -> None:
            write_mesh(path, tsdf_mesh(frames, config))

        run_shots(args, lambda s: args.output / f"shot_{s:03d}.{args.format}", write_shot, on_frame)
        return
    config = MeshConfig(stride=args.stride, edges=edge_rule(args))

    def write(frame: GeometryFrame, path: Path) -> None:
        mesh = depth_to_mesh(frame.depth, frame.image, frame.intrinsics, config, name=path.stem)
        if frame.pose is not None:
            mesh.apply_transform(CV_TO_GL @ frame.pose @ CV_TO_GL)  # glTF camera axes -> the shot's glTF world
        write_mesh(path, mesh)

    def check(dp: DepthPass) -> None:
        if args.stride >= min(dp.info.width, dp.info.height):
            raise DepthshotError(f"--stride {args.stride} is not below the pass's {dp.info.width}x{dp.info.height} "
                                 "frame size: no triangle would fit")

    run_frames(args, lambda i: mesh_path(args.output, i, args.format), write, check)


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
