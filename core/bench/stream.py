"""``python -m core.bench stream``: the streaming engine (``vda-stream``) against the offline key-frame engine
(``vda``) on the same clip, model and threads, in one run.

Each (engine, length) runs in a fresh process (peak RSS is that run's alone): frames are decoded one by one and fed
to the engine; a frame's latency is the time from its decode to its depth coming out of the engine (offline: when
its window and the stitching release it). Reports frames/s, latency p50/p99 and peak RSS; flat memory means the
peak RSS column does not grow with the length.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.bench._fixtures import add_model_arguments, model_argv, model_weights, run_child
from core.bench.engine import synthetic_video

ENGINES = ("vda", "vda-stream")


def _child(args: argparse.Namespace) -> None:
    import torch

    from core.depth.engine import ShotDepth, VdaRunner
    from core.depth.stream import StreamDepth
    from core.models.weights import load_vda
    from core.video import read_frames

    torch.set_num_threads(args.threads)
    loaded = load_vda(args.model, args.weights, device=args.device)
    decoded: dict[int, float] = {}
    latency: list[float] = []
    if args.engine == "vda-stream":
        runner = VdaRunner(loaded.model, args.input_size, device=args.device, precision=args.precision,
                           encode_batch=1, decode_chunk=1)
        engine = StreamDepth(runner)
    else:
        runner = VdaRunner(loaded.model, args.input_size, device=args.device, precision=args.precision)
        engine = ShotDepth(runner, loaded.spec.metric)

    def done(indices: list[int]) -> None:
        now = time.perf_counter()
        latency.extend(now - decoded.pop(i) for i in indices)

    t0 = time.perf_counter()
    for i, frame in enumerate(read_frames(args.video)):
        decoded[i] = time.perf_counter()
        if args.engine == "vda-stream":
            engine.push(frame.image)
            done([i])
        else:
            done([j for j, _, _ in engine.push(frame.image, frame.pts)])
    if args.engine == "vda":
        done([j for j, _, _ in engine.finish()])
    wall = time.perf_counter() - t0
    rss = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"frames": len(latency), "wall_s": wall, "p50_ms": float(np.percentile(latency, 50) * 1000),
                      "p99_ms": float(np.percentile(latency, 99) * 1000), "peak_rss_mib": rss}))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench stream", description=__doc__)
    p.add_argument("--frames", type=int, nargs=2, default=[100, 400], metavar=("SHORT", "LONG"),
                   help="the two clip lengths (default 100 400)")
    p.add_argument("--size", default="112x70", help="WxH of the synthetic video (default 112x70)")
    add_model_arguments(p, input_size=70)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    p.add_argument("--video", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        tmp = Path(tmp)
        weights = model_weights(args, tmp)
        print(f"stream benchmark: {args.model}, {width}x{height} video, input size {args.input_size}, "
              f"{args.device} {args.precision}, {args.threads} thread(s)")
        print(f"{'engine':>10} {'frames':>7} {'frames/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'peak RSS MiB':>13}")
        for n in args.frames:
            video = synthetic_video(tmp / f"v{n}.mp4", n, width, height)
            for engine in ENGINES:
                cmd = [sys.executable, "-m", "core.bench", "stream", "--child", "--engine", engine, "--video",
                       str(video), *model_argv(args, weights)]
                r = run_child(cmd, args.threads)
                if r is None:
                    return 1
                print(f"{engine:>10} {r['frames']:>7} {r['frames'] / r['wall_s']:>9.1f} {r['p50_ms']:>8.1f} "
                      f"{r['p99_ms']:>8.1f} {r['peak_rss_mib']:>13.0f}", flush=True)
            video.unlink()
    return 0
