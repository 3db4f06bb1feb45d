"""Shared plumbing for the ``python -m core.*`` commands: logging setup, clean error exits, progress bars."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

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
