"""Shared plumbing for the ``python -m core.*`` commands: logging setup, clean error exits, progress bars."""

from __future__ import annotations

import argparse
from pathlib import Path
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from core.errors import DepthshotError, is_disk_full

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a command whose reader went away


def setup_logging(verbose: bool = False) -> None:
    """Send log records to stderr; INFO by default, DEBUG with ``verbose``."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a command's ``main`` and map expected failures to a one-line message and an exit status.

    ``DepthshotError`` -> ``error: ...`` and status 2; Ctrl-C -> status 130 (the job can be resumed); stdout's
    reader gone (``depthshot video info X | head``) -> quiet, status 141.
    """
    try:
        status = int(main(argv) or 0)
        sys.stdout.flush()  # inside the try: buffered output meets a closed pipe here, not at interpreter exit
        return status
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except DepthshotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (OSError, RuntimeError) as exc:
        if not is_disk_full(exc):
            raise
        print(f"error: no space left on device ({exc}); make room and run the same command again: it resumes",
              file=sys.stderr)
        return EXIT_USER_ERROR


def _discard_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's flush at exit does not fail on a closed pipe
    again (the Python documentation's recipe for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def input_source(text: str) -> Path | str:
    """A command's input as argparse gives it: a URL (``scheme://...``) stays text (``Path`` would fold its ``//``
    into one ``/``), anything else is a path (``-`` included: the live sources read it as stdin)."""
    return text if "://" in text else Path(text)


def add_decode_errors_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--ignore-decode-errors`` (``args.ignore_decode_errors``), for every command that decodes a video: without
    it, a video whose decode errors damage more than ``core.video.reader.DAMAGED_FRACTION`` of its frames is
    refused."""
    from core.video.reader import DAMAGED_FRACTION

    parser.add_argument("--ignore-decode-errors", action="store_true",
                        help=f"convert a video whose decode errors damage more than {DAMAGED_FRACTION * 100:g}%% of "
                             "its frames")


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` with the commands' error convention: a bad command line is one ``error: ...`` line on stderr
    and exit status 2 (through ``run_main``), not a usage block."""

    def error(self, message: str) -> NoReturn:
        raise DepthshotError(f"{message} (see {self.prog} --help)")


def check_number(name: str, value: float | int | None, *, minimum: float | None = None, above: float | None = None,
                 integer: bool = False) -> None:
    """Raise ``DepthshotError`` unless ``value`` (an option called ``name``) is None or a finite number (an int
    with ``integer``) that is at least ``minimum`` / greater than ``above``."""
    if value is None:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise DepthshotError(f"{name} must be a finite {'whole ' if integer else ''}number, got {value!r}")
    if minimum is not None and value < minimum:
        raise DepthshotError(f"{name} must be >= {minimum:g}, got {value!r}")
    if above is not None and value <= above:
        raise DepthshotError(f"{name} must be > {above:g}, got {value!r}")


def check_window(start: float | None, end: float | None, duration: float | None = None) -> None:
    """Raise ``DepthshotError`` unless ``--start``/``--end`` (s) are finite, not negative, in order and, given the
    video's ``duration`` (s), start inside the video."""
    for name, value in (("--start", start), ("--end", end)):
        if value is not None and not (isinstance(value, (int, float)) and value >= 0):  # also refuses NaN
            raise DepthshotError(f"{name} must be a time >= 0 in seconds, got {value}")
    check_number("--start", start, minimum=0)
    check_number("--end", end, above=0)
    if start is not None and end is not None and end <= start:
        raise DepthshotError(f"--end ({end:g} s) must be after --start ({start:g} s)")
    if duration is not None and start is not None and start >= duration:
        raise DepthshotError(f"--start {start:g} s is past the end of the video ({duration:.3f} s)")



class StageBars:
    """A ``core.progress.OnProgress`` callback that draws one tqdm bar per stage (the commands' side of the library's
    progress callbacks); a new stage closes the previous bar. Use as a context manager, or call ``close()``."""

    def __init__(self, unit: str = "frame") -> None:
        self.unit = unit
        self._bar: Any = None
        self._stage: str | None = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage != self._stage:
            from tqdm import tqdm

            self.close()
            self._stage = stage
            self._bar = tqdm(total=total, initial=done, desc=stage, unit=self.unit, dynamic_ncols=True)
            return
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._stage = None

    def __enter__(self) -> StageBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """``--ray [ADDRESS]`` and the task resources (see ``core.cluster``); ``ray_options(args)`` reads them."""
    g = parser.add_argument_group("scale-out (Ray; pip install 'depthshot[ray]')")
    g.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the work as Ray tasks: without ADDRESS on a local Ray instance (this machine's GPUs, "
                        "else CPUs), with it on the running cluster there (ray start --head prints it; auto)")
    g.add_argument("--ray-gpus-per-task", type=float, metavar="N",
                   help="GPUs per depth task, may be fractional (default 1 where the cluster has GPUs, else 0)")
    g.add_argument("--ray-cpus-per-task", type=float, default=1.0, metavar="N",
                   help="CPUs per task (default 1; CPU tasks run that many torch threads)")
    g.add_argument("--ray-chunk-frames", type=int, default=1000, metavar="N",
                   help="split a shot longer than N frames into overlapping chunks computed in parallel and "
                        "aligned by scale/shift (an approximation; default 1000)")
    g.add_argument("--no-split-shots", dest="split_shots", action="store_false",
                   help="one task per shot however long: the pass is byte-identical to the single-process run")


def ray_options(args: argparse.Namespace) -> Any:
    """The ``core.cluster.RayOptions`` the command line chose, None without ``--ray``."""
    if args.ray is None:
        return None
    from core.cluster import RayOptions

    return RayOptions(address=args.ray or None, gpus_per_task=args.ray_gpus_per_task,
                      cpus_per_task=args.ray_cpus_per_task, split_shots=args.split_shots,
                      chunk_frames=args.ray_chunk_frames)


def connect_ray(options: Any) -> None:
    """With ``--ray`` (``options`` from ``ray_options``; None without it, then nothing happens): connect now, so
    that Ray missing or unreachable is one line before any input is touched."""
    if options is not None:
        from core.cluster import connect

        connect(options)


def run_inputs(inputs: Sequence[Any], run_one: Callable[[Any], Any], *, name: Callable[[Any], str] = str,
               parallel: int = 1) -> int:
    """Run ``run_one(input)`` for every input (``parallel`` at a time, in threads); an input that fails with a
    ``DepthshotError`` is reported as one ``error: NAME: ...`` line (``name(input)``) and does not stop the others.
    Returns the exit status: 0 when all succeeded, ``EXIT_USER_ERROR`` when any failed."""
    from concurrent.futures import ThreadPoolExecutor

    def one(item: Any) -> bool:
        try:
            run_one(item)
            return True
        except DepthshotError as exc:
            text, who = str(exc), name(item)
            print(f"error: {text if who in text else f'{who}: {text}'}", file=sys.stderr)
            return False

    with ThreadPoolExecutor(max(1, parallel)) as pool:
        results = list(pool.map(one, inputs))
    failed = results.count(False)
    if failed and len(inputs) > 1:
        print(f"{failed} of {len(inputs)} inputs failed", file=sys.stderr)
    return EXIT_USER_ERROR if failed else 0
