"""One run per output: an exclusive OS file lock (``flock``) held while a command writes an output, and the
clean-up of what a job that fails for good created.

The kernel drops the lock when the holding process ends, however it ends (``kill -9`` included), so a lock is
never stale: a new run takes it over and resumes. The lock file holds only the holder's PID (what a refused run
names); the holder deletes it when it lets go (a killed holder leaves it behind, empty of meaning and unlocked).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from core.errors import DepthshotError

log = logging.getLogger(__name__)


class OutputBusyError(DepthshotError):
    """Another process holds the output's lock."""


@contextmanager
def output_lock(lock_file: str | os.PathLike[str], output: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the exclusive lock ``lock_file`` (created; its folder must exist) while the block runs; raise
    ``OutputBusyError`` naming ``output`` and the holder's PID at once when another process holds it.
    The lock file is removed when the block ends (a run starting at that instant locks a fresh file)."""
    path = Path(lock_file)
    fd = _acquire(path, Path(output))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


@contextmanager
def claim_output(
    output: str | os.PathLike[str], lock_file: str | os.PathLike[str], *, created: Sequence[str | os.PathLike[str]] = ()
) -> Iterator[None]:
    """Create ``lock_file``'s folder (and its parents) if needed and hold ``output_lock`` on it while the block
    runs. When the block fails for good (a ``DepthshotError`` that is not ``resumable``: the same command would
    fail again), everything this run created is removed: the folders it made for the lock and those of
    ``created`` (files or folders) that did not exist when the block started. Interruptions, resumable errors
    and bugs keep the state for the next run."""
    lock_path = Path(lock_file)
    made = [Path(p) for p in created if not Path(p).exists()]
    folder = lock_path.parent
    new_root = None
    while not folder.exists():
        new_root, folder = folder, folder.parent
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DepthshotError(f"{lock_path.parent}: cannot create the output folder ({exc.strerror})") from None
    if new_root is not None:
        made.append(new_root)
    with output_lock(lock_path, output):
        try:
            yield
        except DepthshotError as exc:
            if not getattr(exc, "resumable", False):
                for p in made:
                    _remove(p)
            raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _acquire(path: Path, output: Path) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DepthshotError(f"{output}: cannot create the lock file {path.name} ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"PID {holder}" if holder else "another process"
            raise OutputBusyError(
                f"{output} is in use by another run ({who}); wait for it to end or stop it, then run again"
            ) from None
        try:  # the holder before us may have deleted the file after we opened it: lock the file that is there
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
