"""``python -m core.depth INPUT -o OUTDIR``: compute the depth pass of a video (resumable: rerun to continue)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from core.cli import run_main, setup_logging
from core.depth.job import ENGINES, PRECISIONS, DepthJob, Progress, run_depth


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m core.depth", description=__doc__)
    p.add_argument("input", type=Path, help="video file")
    p.add_argument("-o", "--output", type=Path, required=True, help="depth pass folder to write")
    p.add_argument("--engine", choices=ENGINES, default="vda")
    p.add_argument("--model", default="vda-l", help="vda-s, vda-b, vda-l, vda-s-metric, vda-b-metric, vda-l-metric")
    p.add_argument("--weights", type=Path, help="checkpoint file (default: the hub cache, downloading if allowed)")
    p.add_argument("--preset", default="fast", help="rollingdepth preset: fast, fast1024, full, paper")
    p.add_argument("--input-size", type=int, default=518, help="network input size (short side, multiple of 14)")
    p.add_argument("--max-res", type=int, help="compute depth at most this many pixels on the long side")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto (default): bf16 autocast on GPUs that support it, fp16 on other GPUs, fp32 on the CPU")
    p.add_argument("--compile", action="store_true", help="vda: torch.compile the encoder and head (slow start)")
    p.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    p.add_argument("--no-shots", dest="shots", action="store_false", help="do not split the video at cuts")
    p.add_argument("--start", type=float, help="first time to process (s)")
    p.add_argument("--end", type=float, help="time to stop at (s, exclusive)")
    p.add_argument("--preview", nargs="?", const="depth", choices=("depth", "side-by-side"),
                   help="also write a colourised OUTDIR/preview.mp4 (side-by-side: RGB | depth)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


class _Bar:
    """tqdm bar over frames showing frames/s and ETA (shown from the first report on)."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, p: Progress) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(unit="frame", dynamic_ncols=True, initial=p.frames_done)
        self._bar.set_description(p.stage)
        if p.frame_count and self._bar.total != p.frame_count:
            self._bar.total = p.frame_count
        self._bar.update(p.frames_done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    job = DepthJob(
        input=args.input, output=args.output, model=args.model, weights=args.weights, input_size=args.input_size,
        max_res=args.max_res, precision=args.precision, compile=args.compile, device=args.device, shots=args.shots, start=args.start,
        end=args.end, engine=args.engine, preset=args.preset, preview=args.preview,
    )
    bar = _Bar()
    try:
        out = run_depth(job, on_progress=bar)
    finally:
        bar.close()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
