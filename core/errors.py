"""The one exception type that user-facing commands turn into a clean one-line error."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class DepthshotError(Exception):
    """An expected failure caused by the user's input or environment (bad file, missing weights, ...).

    Command-line entry points print ``error: <message>`` on one line and exit with status 2;
    anything else is a bug and keeps its traceback. ``resumable``: the job's state is kept and the same command
    continues once the cause is gone (a full disk); otherwise a job that fails for good removes what it created.
    """

    resumable: bool = False


class DiskFullError(DepthshotError):
    """The disk filled up; the job's state is intact and the same command resumes once there is room."""

    resumable = True


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` reports a full disk or quota (an ``OSError`` with ENOSPC/EDQUOT, or a library's
    ``RuntimeError`` that only says so in words, as OpenEXR's does)."""
    if isinstance(exc, DiskFullError):
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    short_write = isinstance(exc, OSError) and exc.errno is None and "requested and" in text and "written" in text
    return short_write or isinstance(exc, (RuntimeError, OSError)) and "No space left on device" in text


@contextmanager
def disk_full_reported(folder: str | os.PathLike[str], needed: Callable[[], int | None]) -> Iterator[None]:
    """Turn a full disk inside the block into one ``DiskFullError`` line: how much more room the job needs
    (``needed()`` bytes, an estimate of what is left to write), how much is free in ``folder``, and that the
    same command resumes."""
    try:
        yield
    except BaseException as exc:
        if not is_disk_full(exc) or isinstance(exc, DiskFullError) and "resumes" in str(exc):
            raise
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = 0
        want = needed()
        more = f"about {_mb(want)} more is needed, " if want else ""
        raise DiskFullError(
            f"{folder}: no space left on device ({more}{_mb(free)} free); make room and run the same command "
            "again: it resumes where it stopped"
        ) from None


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
