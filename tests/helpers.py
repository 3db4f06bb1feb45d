"""Small helpers shared by tests of several packages: an offline stand-in for the model hub, and a progress
callback that interrupts a depth run part-way."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def fake_hub(monkeypatch, download: Callable[..., str], events: list) -> Iterator[None]:
    """Make ``huggingface_hub.snapshot_download`` = ``download`` (the only stand-in: no machine here reaches the
    hub), online (HF_HUB_OFFLINE off), and append ``("log", message)`` to ``events`` for each warning
    ``core.models.hub`` logs while the block runs (the licence notice is one)."""
    import huggingface_hub
    from huggingface_hub import constants

    class Log(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            events.append(("log", record.getMessage()))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", download)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    handler = Log(logging.WARNING)
    logging.getLogger("core.models.hub").addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger("core.models.hub").removeHandler(handler)


def stop_after_frames(frames: int) -> Callable[[object], None]:
    """A ``run_depth`` progress callback that raises KeyboardInterrupt (as Ctrl-C does) once the depth stage has
    done ``frames`` frames."""

    def stop(p) -> None:
        if p.stage == "depth" and p.frames_done >= frames:
            raise KeyboardInterrupt

    return stop
