"""``python -m core.depth INPUT -o OUTDIR``: compute the depth pass of a video (resumable: rerun to continue).

``python -m core.depth A B ... -o OUTDIR``: one pass per input, ``OUTDIR/<input stem>``; a failed input is
reported and the others go on. ``--ray [ADDRESS]``: compute the shots as Ray tasks (``core.cluster``).

``python -m core.depth export PASS -o OUT --format ...``: export a pass for other tools (see core.depth.export)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from core.cli import (
    ArgumentParser,
    add_decode_errors_argument,
    add_ray_arguments,
    connect_ray,
    input_source,
    ray_options,
    run_inputs,
    run_main,
    setup_logging,
)
from core.errors import DepthshotError
from core.depth.job import DepthJob, Meter, Progress, add_engine_arguments, run_depth
from core.progress import OnProgress


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m core.depth", description=__doc__)
    p.add_argument("input", type=input_source, nargs="+", help="video file(s); with --engine vda-stream also a live source: "
                   "- (stdin), a pipe, a v4l2 device, a URL (or a growing file with --live)")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="depth pass folder to write (several inputs: the folder that gets one pass per input)")
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
    p.add_argument("--progress", choices=("bar", "jsonl"), default="bar",
                   help="bar (default): one tqdm bar on stderr; jsonl: one JSON object per line on stdout")
    add_ray_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def outputs_for(inputs: Sequence[Path], output: Path, name: str | Callable[[Path], str] = "{stem}") -> list[Path]:
    """The output of each input: ``output`` itself for one input, else ``output/NAME`` (``{stem}``: the input's
    name without suffix; or ``name(input)``); DepthshotError when two inputs would share an output."""
    if len(inputs) == 1:
        return [output]
    outs = [output / (name(Path(i)) if callable(name) else name.format(stem=Path(i).stem)) for i in inputs]
    seen: dict[Path, Path] = {}
    for i, o in zip(inputs, outs):
        if o in seen:
            raise DepthshotError(f"{seen[o]} and {i} would both be written to {o}: rename one")
        seen[o] = i
    return outs


class JobProgress:
    """One progress display over all inputs of a command: a tqdm bar (frames done of all, frames/s, ETA) or,
    with ``jsonl``, a JSON line per report on stdout (at most ``per_s`` a second, and every stage change and
    every stage's last report).

    ``for_input(key)`` is the ``on_progress`` callback of one input's job."""

    def __init__(self, mode: str = "bar", per_s: float = 2.0) -> None:
        self.mode, self._per_s = mode, per_s
        self._jobs: dict[str, Progress] = {}
        self._lock = threading.Lock()
        self._bar = None
        self._t0, self._last = time.monotonic(), 0.0
        self._stage: dict[str, str] = {}

    def for_input(self, key: str):
        def report(p: Progress) -> None:
            with self._lock:
                self._jobs[key] = p
                if self.mode == "jsonl":
                    self._json(key, p)
                else:
                    self._draw(p)
        return report

    def for_stages(self, key: str) -> OnProgress:
        """``for_input(key)`` as a ``core.progress.OnProgress`` callback ``(stage, done, total)``: frames/s and ETA
        measured within each stage (``Meter``)."""
        report = self.for_input(key)
        meters: dict[str, Meter] = {}

        def on_progress(stage: str, done: int, total: int | None) -> None:
            if stage not in meters:
                meters[stage] = Meter(total or 0, done, report)
            meters[stage].frame_count = total or 0
            meters[stage].report(done, stage)
        return on_progress

    def _draw(self, p: Progress) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(unit="frame", dynamic_ncols=True, initial=p.frames_done)
        done = sum(j.frames_done for j in self._jobs.values())
        total = sum(j.frame_count for j in self._jobs.values())
        desc = p.stage if len(self._jobs) == 1 else f"{len(self._jobs)} inputs"
        if total and self._bar.total != total:
            self._bar.total = total
        if desc != self._bar.desc:
            self._bar.set_description(desc, refresh=False)
        if done != self._bar.n:
            self._bar.update(done - self._bar.n)

    def _json(self, key: str, p: Progress) -> None:
        now = time.monotonic()
        changed = self._stage.get(key) != p.stage
        self._stage[key] = p.stage
        last = 0 < p.frame_count <= p.frames_done  # a stage's last report is never left out
        if not changed and not last and now - self._last < 1.0 / self._per_s:
            return
        self._last = now
        print(json.dumps({"input": key, "stage": p.stage, "frames_done": p.frames_done,
                          "frame_count": p.frame_count, "fps": round(p.fps, 3),
                          "eta_s": None if p.eta_s is None else round(p.eta_s, 1)}), flush=True)

    def finished(self, key: str, output: Path) -> None:
        """Report an input's finished output (jsonl: an ``{"input", "output", "stage": "written"}`` line)."""
        if self.mode == "jsonl":
            with self._lock:
                print(json.dumps({"input": key, "stage": "written", "output": str(output)}), flush=True)

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
    from core.video.live import is_live

    inputs = args.input
    jobs = [DepthJob.from_args(args, i, o, start=args.start, end=args.end, preview=args.preview,
                               ignore_decode_errors=args.ignore_decode_errors)
            for i, o in zip(inputs, outputs_for(inputs, args.output))]
    if args.live or any(is_live(i) for i in inputs):
        if len(inputs) > 1 or args.ray is not None:
            raise DepthshotError("a live source is one input in one process (no several inputs, no --ray)")
        return _main_live(jobs[0], args)
    options = ray_options(args)
    connect_ray(options)  # Ray missing or unreachable: one line, before any input is touched
    progress = JobProgress(args.progress)

    def run_one(job: DepthJob) -> None:
        key = str(job.input)
        if options is None:
            out = run_depth(job, on_progress=progress.for_input(key))
        else:
            from core.cluster.depth import run_depth_ray

            out = run_depth_ray(job, options, on_progress=progress.for_input(key))
        progress.finished(key, out)
        if args.progress != "jsonl":
            print(out)

    try:
        if len(jobs) == 1:
            run_one(jobs[0])  # errors as the single-input command always reported them
            return 0
        return run_inputs(jobs, run_one, name=lambda j: str(j.input), parallel=4 if options is not None else 1)
    finally:
        progress.close()


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
