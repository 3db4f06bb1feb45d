"""The protocol every depth engine implements, and the shot a job (or a cluster task) hands it.

An engine is a module-level object with a ``name``, a frozen config dataclass ``config_type`` whose fields are the
job options it accepts, and four functions:

- ``check(config)``: validate the values (``DepthshotError``, one line) before anything is created;
- ``kind(config)``: the depth kind it writes (``relative_inverse_depth`` or ``metric_depth``);
- ``fingerprint(config, device)``: what decides its output, as it will run (e.g. the precision it really uses on
  this device); recorded in the manifest's ``model`` entry and compared when a job is run again;
- ``load(config, device)``: the loaded engine (weights in memory), with ``record`` (manifest entries known only
  after loading, such as the checkpoint's SHA-256) and ``run_shot(shot, writer, on_frame)``.

``run_shot`` computes one shot's depth into a ``DepthPassWriter`` (``begin_shot`` .. ``end_shot``), resuming inside
the shot from the writer's state when the shot is the writer's open one, and calls ``on_frame(i)`` after writing
pass frame ``i``. It never decodes the video itself: the ``ShotInput`` gives it frames, so the single-process job
(one sequential decode shared by all shots) and a cluster task (one seek per shot) drive the same function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from core.depth.depth_pass import DepthPassWriter
    from core.video import Frame

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "fp16", "bf16")  # auto: see core.depth.engine.resolve_precision


def check_precision(precision: str | None) -> None:
    """DepthshotError unless ``precision`` is None (the engine's default) or one of ``PRECISIONS``."""
    if precision is not None and precision not in PRECISIONS:
        from core.errors import DepthshotError

        raise DepthshotError(f"unknown precision {precision!r} (expected one of {', '.join(PRECISIONS)})")


@dataclass(frozen=True)
class ShotInput:
    """One shot of the job's frames: pass indices ``[start, end)``, ``end`` None when the length is not known in
    advance (the shot runs to the next cut found while decoding, or to the end of the video).

    ``frames(i)`` yields the shot's decoded frames from pass index ``i`` (``start <= i``) up to ``end``; each
    ``Frame.image`` is uint8 RGB ``[H, W, 3]`` at the pass size and ``Frame.pts`` its time in seconds.
    """

    start: int
    end: int | None
    frames: Callable[[int], Iterator[Frame]]

    @property
    def length(self) -> int | None:
        """Frames in the shot, None when unknown."""
        return None if self.end is None else self.end - self.start


class LoadedEngine(Protocol):
    """An engine with its weights in memory on one device."""

    record: dict[str, Any]

    def run_shot(self, shot: ShotInput, writer: DepthPassWriter, on_frame: Callable[[int], None]) -> None: ...


class Engine(Protocol):
    """A depth engine (see the module docstring)."""

    name: str
    config_type: type
    needs_shot_length: bool  # True: the job must count each shot's frames before running it

    def check(self, config: Any) -> None: ...

    def kind(self, config: Any) -> str: ...

    def fingerprint(self, config: Any, device: str) -> dict[str, Any]: ...

    def load(self, config: Any, device: str) -> LoadedEngine: ...
