"""``python -m core.bench geometry``: ms per 1080p frame for point clouds and meshes, and file size per frame.

The frame is synthetic and fixed: metric depth of a room corner (a floor and a back wall) with a box and a ball
in front (step edges at their borders) and a textured colour image. Each figure is the median over ``--repeat``
runs; "build" is depth + image -> geometry in memory, "write" is the file written to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.geometry.camera import Intrinsics, unproject
from core.geometry.mesh import MeshConfig, depth_to_mesh, write_mesh
from core.geometry.pointcloud import PointCloudConfig, depth_to_points, write_ply

WIDTH, HEIGHT = 1920, 1080


def synthetic_scene(width: int = WIDTH, height: int = HEIGHT) -> tuple[np.ndarray, np.ndarray, Intrinsics]:
    """``(depth (H, W) float32 metres, image (H, W, 3) uint8, intrinsics)`` of the benchmark scene."""
    k = Intrinsics.from_fov(width, height)
    rays = unproject(np.ones((height, width), np.float32), k)  # (x/z, y/z, 1)
    y = rays[..., 1]
    with np.errstate(divide="ignore"):
        floor = np.where(y > 0.02, 1.2 / np.maximum(y, 1e-6), np.inf)  # camera 1.2 m above the floor
    depth = np.minimum(floor, 6.0).astype(np.float32)  # back wall at 6 m
    u = np.arange(width)[None, :]
    v = np.arange(height)[:, None]
    box = (abs(u - 0.3 * width) < 0.12 * width) & (abs(v - 0.55 * height) < 0.15 * height)
    depth[box] = 2.5
    ball = (u - 0.7 * width) ** 2 + (v - 0.5 * height) ** 2 < (0.12 * height) ** 2
    r2 = ((u - 0.7 * width) ** 2 + (v - 0.5 * height) ** 2) / (0.12 * height) ** 2
    depth = np.where(ball, 3.0 - 0.4 * np.sqrt(np.clip(1 - r2, 0, 1)), depth).astype(np.float32)
    texture = (np.sin(u * 0.35) * np.cos(v * 0.27) * 20).astype(np.float32)
    image = np.stack(
        np.broadcast_arrays(u * 255 / width + texture, v * 255 / height + texture, 128 + 60 * np.sin(depth)), -1
    )
    return depth, np.clip(image, 0, 255).astype(np.uint8), k


def _median_ms(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        begin = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - begin) * 1000)
    return statistics.median(times), result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.bench geometry", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median, default 3)")
    parser.add_argument("--mesh-strides", default="1,2", help="mesh strides to time (default 1,2)")
    parser.add_argument("--mesh-formats", default="glb,ply",
                        help="mesh formats to time (default glb,ply; obj is text and about 10x slower to write)")
    args = parser.parse_args(argv)
    depth, image, k = synthetic_scene()
    print(f"# geometry, {WIDTH}x{HEIGHT} frame, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, median of {args.repeat}")
    print(f"{'output':<24} {'build ms':>9} {'write ms':>9} {'total ms':>9} {'MB/frame':>9} {'elements':>12}")
    with tempfile.TemporaryDirectory(prefix="depthshot-bench-") as tmp:
        rows: list[tuple[str, Callable[[], object], Callable[[object], Path], Callable[[object], str]]] = []
        for stride in (1, 2):
            config = PointCloudConfig(stride=stride)
            rows.append((
                f"points PLY stride {stride}",
                lambda c=config: depth_to_points(depth, image, k, c),
                lambda pts: write_ply(Path(tmp) / "000000.ply", pts),
                lambda pts: f"{len(pts)} pts",
            ))
        for stride in (int(s) for s in args.mesh_strides.split(",") if s):
            config = MeshConfig(stride=stride)
            for fmt in (f for f in args.mesh_formats.split(",") if f):
                rows.append((
                    f"mesh {fmt.upper()} stride {stride}",
                    lambda c=config: depth_to_mesh(depth, image, k, c, name="000000"),
                    lambda m, f=fmt: write_mesh(Path(tmp) / f"000000.{f}", m),
                    lambda m: f"{len(m.faces)} tris",
                ))
        for name, build, write, count in rows:
            build_ms, result = _median_ms(build, args.repeat)
            write_ms, _ = _median_ms(lambda: write(result), args.repeat)
            size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6  # with an OBJ's .mtl and .png
            for p in Path(tmp).iterdir():
                p.unlink()
            print(f"{name:<24} {build_ms:9.0f} {write_ms:9.0f} {build_ms + write_ms:9.0f} {size:9.1f} {count(result):>12}")
    return 0
