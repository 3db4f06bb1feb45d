"""Overlapping decode, compute and encode with threads joined by bounded queues (memory stays flat).

``prefetch`` runs a producer (e.g. ``read_frames``) ahead in a thread; ``bounded_map`` also applies a function
there; ``Sink`` runs a consumer (e.g. ``VideoWriter.write``) behind in a thread. At most ``maxsize`` items wait
in each queue, and an exception on either side reaches the caller.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()
_POLL_S = 0.1


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(iterable: Iterable[T], maxsize: int = 4) -> Prefetched[T]:
    """Iterate ``iterable`` in a background thread, keeping at most ``maxsize`` items ready.

    The thread starts at once (items are produced before the first is asked for). Items come out in order; the
    producer's exception is raised here after the items before it. Stopping early (``break``, ``close()``, even
    before the first item) stops the producer and closes its generator in its own thread.
    """
    if maxsize < 1:
        raise ValueError(f"maxsize must be >= 1, got {maxsize}")
    items: queue.Queue[Any] = queue.Queue(maxsize)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(iterable)
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Failure(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    return Prefetched(_drain(items, stop, thread), stop, thread)


class Prefetched(Iterator[T]):
    """The iterator ``prefetch`` returns: its items, and ``close()`` to stop the producer (waits for it)."""

    def __init__(self, items: Iterator[T], stop: threading.Event, thread: threading.Thread) -> None:
        self._items, self._stop, self._thread = items, stop, thread

    def __next__(self) -> T:
        return next(self._items)

    def close(self) -> None:
        self._items.close()  # a started drain stops and joins the producer itself; an unstarted one does nothing
        self._stop.set()
        self._thread.join()

    def __del__(self) -> None:
        self._stop.set()  # dropped without close(): the producer stops at its next item


def _drain(items: queue.Queue[Any], stop: threading.Event, thread: threading.Thread) -> Iterator[Any]:
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


def bounded_map(fn: Callable[[T], R], iterable: Iterable[T], maxsize: int = 4) -> Iterator[R]:
    """``map(fn, iterable)`` computed ahead in a background thread, at most ``maxsize`` results waiting."""
    return prefetch(map(fn, iterable), maxsize)


class Sink:
    """Call ``fn(*args)`` for each ``put(*args)`` in a background thread, at most ``maxsize`` calls waiting.

    Use as a context manager: leaving the block waits for the queue to drain. An exception raised by ``fn``
    is raised by the next ``put`` or on leaving the block; later items are then dropped.
    """

    def __init__(self, fn: Callable[..., Any], maxsize: int = 4) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._fn = fn
        self._items: queue.Queue[Any] = queue.Queue(maxsize)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._consume, name="sink", daemon=True)

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._items.put(_DONE)
        self._thread.join()
        if exc_type is None:
            self._raise()

    def put(self, *args: Any) -> None:
        """Queue one call of ``fn(*args)``; blocks while ``maxsize`` calls are waiting."""
        self._raise()
        self._items.put(args)

    def flush(self) -> None:
        """Wait until every call queued so far has run; raise the first exception ``fn`` raised."""
        self._items.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _consume(self) -> None:
        while True:
            args = self._items.get()
            try:
                if args is _DONE:
                    return
                if self._error is None:
                    try:
                        self._fn(*args)
                    except BaseException as exc:  # handed to the caller by the next put() or on exit
                        self._error = exc
            finally:
                self._items.task_done()
