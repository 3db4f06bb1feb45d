"""Atomic file output: write under a temporary name beside the target, rename onto it only when complete.

A process killed mid-write (``kill -9``, power loss) leaves its temporary file behind. Every reader of resume
state lists files with ``finished_files`` (which never returns a temporary file), and a job that resumes in a
folder calls ``sweep_partials`` first to delete the temporary files of processes that are gone.
"""

from __future__ import annotations

import logging
import os
import shutil
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

_PARTIAL = re.compile(r"^\.(?P<stem>.*)\.partial-(?P<pid>\d+)(?P<suffix>\.[^.]*)?$")


def temp_path(path: Path) -> Path:
    """The temporary name ``path`` is written under: hidden, in the same folder, same suffix (libraries that pick
    a format by the file name still see it), unique per process."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def is_partial(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a temporary file of an atomic write (``temp_path``'s naming rule)."""
    return _PARTIAL.match(Path(path).name) is not None


def finished_files(folder: str | os.PathLike[str], pattern: str = "*") -> list[Path]:
    """The files in ``folder`` matching the glob ``pattern``, sorted, without temporary files of atomic writes
    (which a pattern like ``*.exr`` matches too: the temporary name keeps the suffix)."""
    return sorted(p for p in Path(folder).glob(pattern) if not is_partial(p))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def sweep_partials(folder: str | os.PathLike[str], *, stems: tuple[str, ...] | None = None) -> int:
    """Delete the temporary files in ``folder`` left by atomic writes of processes that no longer run; only
    those of targets named ``stems`` (file names without suffix) when given. Returns how many were removed.
    Temporary files of live processes (another job writing beside ours) are kept."""
    removed = 0
    try:
        entries = list(Path(folder).iterdir())
    except FileNotFoundError:
        return 0
    for p in entries:
        m = _PARTIAL.match(p.name)
        if m is None or (stems is not None and m["stem"] not in stems) or _alive(int(m["pid"])):
            continue
        try:
            p.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            continue
    if removed:
        log.info("%s: removed %d temporary file(s) of an interrupted run", folder, removed)
    return removed


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush ``path``'s content to disk (what makes a renamed file survive a power loss)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
            fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder to fill with ``path``'s content; it takes ``path``'s place only when the block
    ends normally (an existing ``path`` is replaced only with ``replace``), and is removed when the block raises.
    Temporary folders left by processes that no longer run are removed first."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.partial-*"):
        m = _PARTIAL.match(stale.name)
        if m is not None and stale.is_dir() and not _alive(int(m["pid"])):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if path.exists():
            if not replace:
                raise FileExistsError(path)
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> None:
    """Replace ``path``'s content with ``text`` atomically (durably by default: used for resume state)."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_text(text)
