"""``python -m tests.enospc N MODULE ARGS...``: run ``python -m MODULE ARGS`` on a disk that fills up at its N-th
write, for the tests where a small tmpfs cannot be mounted (no root or no mount rights).

A "write" is a finished file taking its place: every output of the commands is written under a temporary name and
renamed into place (``core.atomic``, the video writers), so the N-th ``os.replace`` (counted from 1) and every later
one fail with ``ENOSPC`` (the disk stays full), as the library writing that file would have failed. The temporary
file is cut to half its size first, as a full disk leaves it. The command's own handling then runs unchanged:
the one-line message, the resumable state, what it removes.
"""

from __future__ import annotations

import errno
import os
import runpy
import sys


def fill_disk_at(n: int) -> None:
    """From now on, the ``n``-th and every later ``os.replace`` of this process fail with ``ENOSPC``."""
    real = os.replace
    count = 0

    def replace(src, dst, *args, **kwargs):
        nonlocal count
        count += 1
        if count < n:
            return real(src, dst, *args, **kwargs)
        try:
            os.truncate(src, os.path.getsize(src) // 2)
        except OSError:
            pass
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    os.replace = replace


def main() -> None:
    n, module, *args = sys.argv[1:]
    fill_disk_at(int(n))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
