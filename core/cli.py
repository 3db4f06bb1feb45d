"""Shared plumbing for the ``python -m core.*`` commands: logging setup and clean error exits."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from core.errors import DepthshotError, is_disk_full

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def setup_logging(verbose: bool = False) -> None:
    """Send log records to stderr; INFO by default, DEBUG with ``verbose``."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a command's ``main`` and map expected failures to a one-line message and an exit status.

    ``DepthshotError`` -> ``error: ...`` and status 2; Ctrl-C -> status 130 (the job can be resumed).
    """
    try:
        return int(main(argv) or 0)
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
    check_number("--start", start, minimum=0)
    check_number("--end", end, above=0)
    if start is not None and end is not None and end <= start:
        raise DepthshotError(f"--end ({end:g}) must be after --start ({start:g})")
    if duration is not None and start is not None and start >= duration:
        raise DepthshotError(f"--start {start:g} is at or after the end of the video ({duration:.3f}s)")


def check_device(name: str | None) -> None:
    """Raise ``DepthshotError`` unless ``--device`` is None/auto, cpu, or cuda[:N] with such a GPU present."""
    if name is None or name in ("auto", "cpu"):
        return
    if not isinstance(name, str) or not (name == "cuda" or name.startswith("cuda:") and name[5:].isdigit()):
        raise DepthshotError(f"unknown device {name!r} (auto, cpu, cuda or cuda:N)")
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(name[5:]) if ":" in name else 0
    if index >= count:
        raise DepthshotError(f"--device {name}: no such CUDA device (this torch sees {count})")
