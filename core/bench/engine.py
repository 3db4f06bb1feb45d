"""``python -m core.bench engine``: peak memory and speed of the depth engine against video length.

Each length runs ``run_depth`` in a fresh process (so peak RSS is that run's alone) on a synthetic video at a tiny
size, with VDA-S and the fixtures' synthetic weights unless ``--weights`` is given. Reports wall time, frames/s,
peak RSS and, on CUDA, peak VRAM. Flat memory means the peak RSS column does not grow with the frame count.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# the fixtures' synthetic weights: one helper for every benchmark (paths from --fixtures, never the package's)
from core.bench._fixtures import add_model_arguments, model_argv, model_weights, run_child, synthetic_weights  # noqa: E402

__all__ = ["synthetic_video", "synthetic_weights"]


def synthetic_video(path: Path, frames: int, width: int, height: int, fps: int = 30) -> Path:
    """A panning smooth pattern, ``frames`` frames of ``width`` x ``height`` (H.264 ultrafast)."""
    from core.video import EncodeSettings, VideoWriter

    rng = np.random.default_rng(0)
    big = np.repeat(np.repeat(rng.integers(0, 256, (height // 4 + 40, width // 4 + 40, 3), np.uint8), 4, 0), 4, 1)
    with VideoWriter(path, width, height, fps, EncodeSettings(codec="h264", preset="ultrafast", crf=20)) as out:
        for i in range(frames):
            y, x = i // 3 % 100, i % 100
            out.write(np.ascontiguousarray(big[y : y + height, x : x + width]))
    return path


def _child(args: argparse.Namespace) -> None:
    import torch

    from core.depth import DepthJob, run_depth

    torch.set_num_threads(args.threads)
    job = DepthJob(input=args.video, output=args.out, model=args.model, weights=args.weights,
                   input_size=args.input_size, precision=args.precision, device=args.device, shots=False,
                   reuse_features=not args.no_reuse)
    t0 = time.perf_counter()
    dp = run_depth(job)
    wall = time.perf_counter() - t0
    rss = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
    vram = torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else None
    print(json.dumps({"frames": args.frames, "wall_s": wall, "peak_rss_mib": rss, "vram_mib": vram, "pass": str(dp)}))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench engine", description=__doc__)
    p.add_argument("--frames", type=int, nargs="+", default=[300, 3000, 30000])
    p.add_argument("--size", default="42x28", help="WxH of the synthetic video")
    add_model_arguments(p, input_size=28)
    p.add_argument("--no-reuse", action="store_true", help="encode all 32 window positions (no feature reuse)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--video", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        tmp = Path(tmp)
        weights = model_weights(args, tmp)
        print(f"engine benchmark: {args.model}, {width}x{height} video, input size {args.input_size}, "
              f"{args.device} {args.precision}, {args.threads} thread(s), feature reuse {'off' if args.no_reuse else 'on'}")
        print(f"{'frames':>7} {'wall s':>8} {'frames/s':>9} {'peak RSS MiB':>13} {'peak VRAM MiB':>14}")
        for n in args.frames:
            video = synthetic_video(tmp / f"v{n}.mp4", n, width, height)
            cmd = [sys.executable, "-m", "core.bench", "engine", "--child", "--frames", str(n), "--video", str(video),
                   "--out", str(tmp / f"pass{n}"), *model_argv(args, weights)] + (["--no-reuse"] if args.no_reuse else [])
            r = run_child(cmd, args.threads)
            if r is None:
                return 1
            vram = f"{r['vram_mib']:.0f}" if r["vram_mib"] is not None else "-"
            print(f"{n:>7} {r['wall_s']:>8.1f} {n / r['wall_s']:>9.1f} {r['peak_rss_mib']:>13.0f} {vram:>14}", flush=True)
            shutil.rmtree(tmp / f"pass{n}", ignore_errors=True)
            video.unlink()
    return 0
