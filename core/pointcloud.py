"""``python -m core.pointcloud INPUT -o DIR``: one coloured binary PLY per frame (OpenCV camera axes).

INPUT is a depth pass or a video (see :mod:`core.geometry.cli`). Files are ``DIR/000000.ply`` ... named by the
pass's frame index, with x, y, z (float32), red, green, blue (uint8) and confidence (float32, edge confidence;
0 for filled depth, which is only written with ``--keep-filled``).

``--poses FILE|estimate`` writes each frame in its shot's world space (OpenCV axes of the shot's first camera for
estimated poses); ``--fuse`` writes one voxel-merged world-space cloud per shot instead, ``DIR/shot_000.ply``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from core.cli import run_main
from core.geometry.cli import build_parser, edge_rule, parse, run_frames, run_shots
from core.geometry.fusion import fuse_points
from core.geometry.pointcloud import PointCloudConfig, depth_to_points, transform_points, write_ply
from core.geometry.sequence import GeometryFrame

DEFAULT_FUSE_VOXEL = 0.005
"""Voxel of ``--fuse`` without ``--voxel``: 5 mm for metric depth (scene units for relative)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser("python -m core.pointcloud", "Write one coloured point cloud (binary PLY) per frame.")
    parser.add_argument("--stride", type=int, default=1, help="keep every N-th pixel in x and y (default 1)")
    parser.add_argument("--voxel", type=float, help="merge points per cube of this size (scene units)")
    parser.add_argument("--fuse", action="store_true",
                        help=f"one fused world-space cloud per shot, DIR/shot_000.ply (voxel: --voxel, default "
                             f"{DEFAULT_FUSE_VOXEL}; poses: --poses, default estimate)")
    args = parse(parser, argv)
    if args.fuse:
        config = PointCloudConfig(stride=args.stride, edges=edge_rule(args))
        voxel = args.voxel or DEFAULT_FUSE_VOXEL

        def write_shot(frames: Iterator[GeometryFrame], path: Path) -> None:
            write_ply(path, fuse_points(frames, voxel, config))

        run_shots(args, lambda s: args.output / f"shot_{s:03d}.ply", write_shot)
        return 0
    config = PointCloudConfig(stride=args.stride, voxel=args.voxel, edges=edge_rule(args))

    def write(frame: GeometryFrame, path: Path) -> None:
        points = depth_to_points(frame.depth, frame.image, frame.intrinsics, config, frame.unmeasured)
        write_ply(path, points if frame.pose is None else transform_points(points, frame.pose))

    run_frames(args, lambda i: args.output / f"{i:06d}.ply", write)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
