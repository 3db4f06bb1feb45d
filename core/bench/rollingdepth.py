"""``python -m core.bench rollingdepth``: CPU cost of the RollingDepth pipeline with a tiny random model.

Runs :func:`estimate_shot` end to end (encode, snippet inference, 2000-step co-alignment, merge,
optional refinement) on a synthetic clip with the tiny UNet/VAE of the tests, for the fast and full
presets at a small processing size, and times the co-alignment alone at the size the fast preset
really uses (768x432 -> 3311 samples per frame). The tiny model's figures measure the pipeline's own
overhead, not the cost of the real 866M-parameter UNet (which needs a GPU).
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from core.depth.rollingdepth.coalign import CoalignConfig, fit_alignment, sample_grid
from core.depth.rollingdepth.model import random_model
from core.depth.rollingdepth.pipeline import estimate_shot
from core.depth.rollingdepth.presets import get_preset
from core.depth.rollingdepth.snippets import plan_dilations, snippet_indices


def _clip(count: int, height: int, width: int) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        img = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 60)], -1)
        img[height // 4 : height // 2, (2 * i) % width : (2 * i) % width + width // 4] = 230
        frames.append(img.astype(np.uint8))
    return frames


def _coalign_seconds(frames: int, dilations: list[int]) -> float:
    """Seconds for the default 2000-step co-alignment of a ``frames``-frame clip at 768x432."""
    rows, cols = sample_grid(432, 768, 2, 10)
    indices = [snippet_indices(frames, 3, d) for d in plan_dilations(frames, 3, dilations, True)]
    gen = torch.Generator().manual_seed(0)
    samples = [torch.rand(len(i), 3, rows.size * cols.size, generator=gen) for i in indices]
    start = time.perf_counter()
    fit_alignment(samples, indices, frames, 0.0, CoalignConfig())
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.bench rollingdepth", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24, help="clip length (default 24)")
    parser.add_argument("--size", type=int, default=128, help="processing resolution, longer side (default 128)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    height, width = args.size * 9 // 16, args.size
    frames = _clip(args.frames, height, width)
    model = random_model(0)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)")
    print(f"clip: {args.frames} frames {width}x{height}, tiny random UNet/VAE, fp32")
    for name in ("fast", "full"):
        config = replace(get_preset(name), resolution=args.size, precision="fp32")
        start = time.perf_counter()
        for _ in estimate_shot(model, lambda: iter(frames), args.frames, config):
            pass
        seconds = time.perf_counter() - start
        print(f"preset {name:<5} ({config.refine_steps:>2} refine steps): {seconds:6.2f} s  {1000 * seconds / args.frames:7.1f} ms/frame")
    for count in (args.frames, 100):
        print(f"co-alignment alone, {count} frames at 768x432, dilations 1,10,25 requested: {_coalign_seconds(count, [1, 10, 25]):6.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")
    return 0
