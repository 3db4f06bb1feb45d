"""``python -m core.bench ray-split``: how far a long shot split into chunks (``--ray`` without
``--no-split-shots``) departs from the single-process pass.

One synthetic clip (a panning pattern, one shot), VDA with the fixtures' synthetic weights (or ``--weights``), on the
CPU of a local Ray instance: the pass of ``run_depth`` against ``run_depth_ray`` with each ``--chunk-frames``. Prints
the maximum and mean absolute difference in % of the single-process pass's range, and per chunking the frame where
the difference is largest. Also checks that with splitting off (``--no-split-shots``) the two passes are identical.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.bench._fixtures import add_model_arguments, model_weights
from core.bench.engine import synthetic_video


def _depth(path: Path) -> np.ndarray:
    """The pass at ``path`` as ``(T, H, W)`` float32."""
    from core.depth.depth_pass import DepthPass

    dp = DepthPass.open(path)
    return np.stack([dp.read(i) for i in range(len(dp))])


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench ray-split", description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=60, help="length of the one-shot clip")
    p.add_argument("--size", default="96x64", help="WxH of the synthetic video")
    p.add_argument("--chunk-frames", type=int, nargs="+", default=[40, 36])
    add_model_arguments(p, input_size=70)
    args = p.parse_args(argv)
    import ray
    import torch

    from core.cluster import RayOptions
    from core.cluster.depth import run_depth_ray
    from core.depth import DepthJob, run_depth

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-ray-split-") as tmp:
        tmp = Path(tmp)
        weights = model_weights(args, tmp)
        clip = synthetic_video(tmp / "long.mp4", args.frames, width, height)

        def job(out: str) -> DepthJob:
            return DepthJob(input=clip, output=tmp / out, model=args.model, weights=weights,
                            input_size=args.input_size, precision=args.precision, device=args.device, shots=False)

        ref = _depth(run_depth(job("single")))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        try:
            same = _depth(run_depth_ray(job("unsplit"), RayOptions(split_shots=False)))
            span = float(ref.max() - ref.min())
            print(f"ray-split: {args.frames} frames {width}x{height}, {args.model} input {args.input_size}, "
                  f"overlap {RayOptions.chunk_overlap} frames; depth range of the single-process pass {span:.4g}")
            print(f"--no-split-shots: identical to the single process: {bool(np.array_equal(ref, same))}")
            print(f"{'chunk frames':>12} {'max % of range':>15} {'mean % of range':>16} {'worst frame':>12}")
            for chunk in args.chunk_frames:
                got = _depth(run_depth_ray(job(f"chunk{chunk}"), RayOptions(chunk_frames=chunk)))
                diff = np.abs(got - ref)
                worst = int(diff.reshape(len(diff), -1).max(1).argmax())
                print(f"{chunk:>12} {100 * float(diff.max()) / span:>15.2f} {100 * float(diff.mean()) / span:>16.3f} "
                      f"{worst:>12}", flush=True)
        finally:
            ray.shutdown()
    return 0
