"""Shared plumbing for the ``python -m core.*`` commands: logging setup and clean error exits."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

from core.errors import DepthshotError

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
