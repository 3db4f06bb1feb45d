"""``python -m core.pointcloud INPUT -o DIR``: one coloured binary PLY per frame (OpenCV camera axes).

INPUT is a depth pass or a video (see :mod:`core.geometry.cli`). Files are ``DIR/000000.ply`` ... named by the
pass's frame index, with x, y, z (float32), red, green, blue (uint8) and confidence (float32, edge confidence;
0 for filled depth, which is only written with ``--keep-filled``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.cli import run_main
from core.geometry.cli import build_parser, edge_rule, parse, run_frames
from core.geometry.pointcloud import PointCloudConfig, depth_to_points, write_ply
from core.geometry.sequence import GeometryFrame


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser("python -m core.pointcloud", "Write one coloured point cloud (binary PLY) per frame.")
    parser.add_argument("--stride", type=int, default=1, help="keep every N-th pixel in x and y (default 1)")
    parser.add_argument("--voxel", type=float, help="merge points per cube of this size (scene units)")
    args = parse(parser, argv)
    config = PointCloudConfig(stride=args.stride, voxel=args.voxel, edges=edge_rule(args))

    def write(frame: GeometryFrame, path: Path) -> None:
        write_ply(path, depth_to_points(frame.depth, frame.image, frame.intrinsics, config, frame.unmeasured))

    run_frames(args, lambda i: args.output / f"{i:06d}.ply", write)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
