"""``python -m core.bench stereo``: view synthesis ms per 1080p frame, and end-to-end frames/s of ``core.stereo``.

Synthesis: one fixed synthetic 1080p frame (a textured image; disparity with a floor gradient and two objects with
step edges, up to 2 % of the width), both eyes synthesised (two warps), median over ``--repeat`` runs after a
warm-up, on CPU and on CUDA when present. End to end: ``run_stereo`` on the bundled clip with its bundled depth pass
(decode, depth read, disparity, synthesis, SBS packing, x264 encode), frames / wall-clock seconds.
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

import torch

from core.errors import DepthshotError
from core.stereo.convert import StereoJob, run_stereo
from core.stereo.warp import warp_view
from core.video import EncodeSettings, probe

ASSETS = Path(__file__).resolve().parents[2] / "assets"
WIDTH, HEIGHT = 1920, 1080


def synthetic_frame(width: int = WIDTH, height: int = HEIGHT) -> tuple[torch.Tensor, torch.Tensor]:
    """``(image (3, H, W) float in [0, 1], disparity (H, W) px)`` of the benchmark frame."""
    v, u = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                          indexing="ij")
    image = torch.stack([0.5 + 0.4 * torch.sin(u / 7 + v / 13), 0.5 + 0.4 * torch.cos(u / 11 - v / 5),
                         0.5 + 0.4 * torch.sin((u + v) / 17)])
    budget = 0.02 * width
    disparity = budget * (v / height - 0.5)
    disparity[(abs(u - 0.3 * width) < 0.1 * width) & (abs(v - 0.5 * height) < 0.2 * height)] = 0.3 * budget
    disparity[(u - 0.7 * width) ** 2 + (v - 0.45 * height) ** 2 < (0.1 * height) ** 2] = 0.5 * budget
    return image, disparity


def median_ms(run: Callable[[], None], device: str, repeat: int) -> float:
    """Median wall ms of ``run()`` over ``repeat`` calls after one warm-up call (CUDA synchronised after each)."""

    def once() -> None:
        run()
        if device == "cuda":
            torch.cuda.synchronize()

    once()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        once()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def time_synthesis(device: str, repeat: int) -> float:
    """Median ms to synthesise both eyes of the 1080p benchmark frame on ``device``."""
    image, disparity = (t.to(device) for t in synthetic_frame())

    def both_eyes() -> None:
        warp_view(image, disparity, 0.5)
        warp_view(image, disparity, -0.5)

    return median_ms(both_eyes, device, repeat)


def time_end_to_end(clip: Path, depth: Path, preset: str) -> tuple[int, float]:
    """``(frames, frames per second)`` of a full SBS conversion of ``clip`` with ``depth``."""
    frames = probe(clip).frame_count
    with tempfile.TemporaryDirectory() as tmp:
        job = StereoJob(input=clip, depth=depth, output=Path(tmp) / "out.mp4",
                        settings=EncodeSettings(preset=preset))
        t0 = time.perf_counter()
        run_stereo(job)
        return frames, frames / (time.perf_counter() - t0)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench stereo", description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5, help="synthesis runs to take the median of (default 5)")
    p.add_argument("--clip", type=Path, default=ASSETS / "tum_desk.mp4")
    p.add_argument("--depth", type=Path, default=ASSETS / "tum_desk_depth")
    p.add_argument("--preset", default="medium", help="x264 preset for the end-to-end run (default medium)")
    p.add_argument("--skip-end-to-end", action="store_true")
    args = p.parse_args(argv)
    if args.repeat < 1:
        raise DepthshotError("--repeat must be >= 1")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
        print(f"view synthesis, 1080p, both eyes, {name}: {time_synthesis(device, args.repeat):.0f} ms/frame")
    if not args.skip_end_to_end:
        if not (args.clip.is_file() and args.depth.is_dir()):
            raise DepthshotError(f"bundled clip or depth pass missing ({args.clip}, {args.depth})")
        info = probe(args.clip)
        frames, fps = time_end_to_end(args.clip, args.depth, args.preset)
        print(f"end to end, python -m core.stereo {args.clip.name} ({info.width}x{info.height}, {frames} frames, "
              f"sbs_full, x264 {args.preset}): {fps:.2f} frames/s")
    return 0
