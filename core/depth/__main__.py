"""``python -m core.depth INPUT -o OUTDIR``: compute the depth pass of a video (resumable: rerun to continue)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from core.cli import run_main, setup_logging
from core.depth.job import DepthJob, Progress, add_engine_arguments, run_depth


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m core.depth", description=__doc__)
    p.add_argument("input", type=Path, help="video file")
    p.add_argument("-o", "--output", type=Path, required=True, help="depth pass folder to write")
    add_engine_arguments(p)
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
    job = DepthJob.from_args(args, args.input, args.output, start=args.start, end=args.end, preview=args.preview)
    bar = _Bar()
    try:
        out = run_depth(job, on_progress=bar)
    finally:
        bar.close()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
