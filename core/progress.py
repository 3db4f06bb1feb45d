"""Progress from library functions: the caller passes a callback, the commands draw the bars.

``OnProgress`` is ``(stage, done, total)``: the stage's name (e.g. "stereo", "import depth"), the units done so far
in it, and its total (None while unknown). Library code never writes bars itself; ``core.cli.StageBars`` is the
tqdm implementation the commands use.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

OnProgress = Callable[[str, int, "int | None"], None]


class Stage:
    """One stage's counter that reports through ``on_progress`` (a no-op without one).

    ``with Stage(on_progress, "encode", total) as stage: ... stage.update(n)``
    """

    def __init__(self, on_progress: OnProgress | None, name: str, total: int | None, done: int = 0) -> None:
        self.on_progress, self.name, self.total, self.done = on_progress, name, total, done

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done and report."""
        self.done += n
        if self.on_progress is not None:
            self.on_progress(self.name, self.done, self.total)

    def begin(self) -> Stage:
        """Report the stage's start (``done`` units of ``total``); returns the stage."""
        if self.on_progress is not None:
            self.on_progress(self.name, self.done, self.total)
        return self

    def __enter__(self) -> Stage:
        return self.begin()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        return None
