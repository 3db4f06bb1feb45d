"""``python -m core.depth INPUT -o OUTDIR``: compute the depth pass of a video (resumable: rerun to continue).

``python -m core.depth export PASS -o OUT --format ...``: export a pass for other tools (see core.depth.export)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from core.cli import ArgumentParser, add_decode_errors_argument, input_source, run_main, setup_logging
from core.errors import DepthshotError
from core.depth.job import DepthJob, Progress, add_engine_arguments, run_depth


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m core.depth", description=__doc__)
    p.add_argument("input", type=input_source, help="video file; with --engine vda-stream also a live source: - (stdin), "
                   "a pipe, a v4l2 device, a URL (or a growing file with --live)")
    p.add_argument("-o", "--output", type=Path, required=True, help="depth pass folder to write")
    add_engine_arguments(p)
    p.add_argument("--start", type=float, help="first time to process (s)")
    p.add_argument("--end", type=float, help="time to stop at (s, exclusive)")
    p.add_argument("--preview", nargs="?", const="depth", choices=("depth", "side-by-side"),
                   help="also write a colourised OUTDIR/preview.mp4 (side-by-side: RGB | depth)")
    add_decode_errors_argument(p)
    p.add_argument("--live", action="store_true",
                   help="read INPUT as a live stream (implied for -, pipes, devices and URLs; for a growing file)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="live: seconds without data before the source counts as stalled (default 10)")
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
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:  # python -m core.depth export PASS ... (a video named "export": ./export)
        from core.depth.export import main as export_main

        return export_main(argv[1:])
    args = parse_args(argv)
    setup_logging(args.verbose)
    job = DepthJob.from_args(args, args.input, args.output, start=args.start, end=args.end, preview=args.preview,
                              ignore_decode_errors=args.ignore_decode_errors)
    from core.video.live import is_live

    if args.live or is_live(args.input):
        return _main_live(job, args)
    bar = _Bar()
    try:
        out = run_depth(job, on_progress=bar)
    finally:
        bar.close()
    print(out)
    return 0


def _main_live(job: DepthJob, args: argparse.Namespace) -> int:
    """A live source: the streaming engine, one shot; the latency report, then the error if the source broke."""
    from core.depth.live import run_live_depth

    if args.timeout <= 0:
        raise DepthshotError(f"--timeout must be > 0 s, got {args.timeout}")
    if args.preview:
        raise DepthshotError("--preview is written from a finished pass: run it on the pass of a live run afterwards")
    run = run_live_depth(job, args.timeout)
    print(run.report(), file=sys.stderr)
    if run.error is not None:
        raise run.error
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
