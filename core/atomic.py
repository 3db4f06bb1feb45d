"""Atomic file output: write under a temporary name beside the target, rename onto it only when complete."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_path(path: Path) -> Path:
    """The temporary name ``path`` is written under: hidden, in the same folder, same suffix (libraries that pick
    a format by the file name still see it), unique per process."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; rename it onto ``path`` when the block ends normally,
    remove it when the block raises. ``durable``: flush the file to disk first (resume state that must survive a
    power loss)."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> None:
    """Replace ``path``'s content with ``text`` atomically (durably by default: used for resume state)."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_text(text)
