"""Run many ``python -m core.X ...`` command lines cheaply: one Python process imports the heavy libraries once,
then forks a child per command line that runs the command's ``__main__`` module exactly as ``python -m`` does
(``runpy``), with its own stdin, stdout, stderr and exit status.

Protocol (used by ``tests.robust.Commands``): one JSON request per stdin line, ``{"module", "argv", "stdin",
"cwd"}``; one JSON answer per stdout line, ``{"rc", "stdout", "stderr"}``.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import tempfile
import traceback


def _child(request: dict, out_path: str, err_path: str, in_path: str) -> None:
    """In the forked child: wire the files to fds 0-2, run the module as __main__, exit with its status."""
    for fd, path, mode in ((0, in_path, os.O_RDONLY), (1, out_path, os.O_WRONLY), (2, err_path, os.O_WRONLY)):
        f = os.open(path, mode)
        os.dup2(f, fd)
        os.close(f)
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False, buffering=1)
    os.chdir(request.get("cwd") or os.getcwd())
    sys.argv = [request["module"], *request["argv"]]
    code = 0
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:  # what the interpreter would print for an uncaught exception
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    import av  # noqa: F401  (the heavy imports, once)
    import cv2  # noqa: F401
    import torch  # noqa: F401

    import core.depth.job  # noqa: F401
    import core.geometry.cli  # noqa: F401
    import core.stereo.convert  # noqa: F401

    protocol = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        with tempfile.TemporaryDirectory() as tmp:
            paths = [os.path.join(tmp, name) for name in ("out", "err", "in")]
            for p in paths:
                open(p, "w").close()
            with open(paths[2], "w") as f:
                f.write(request.get("stdin") or "")
            pid = os.fork()
            if pid == 0:
                _child(request, *paths)
            _, status = os.waitpid(pid, 0)
            rc = os.waitstatus_to_exitcode(status)
            with open(paths[0]) as o, open(paths[1]) as e:
                answer = {"rc": rc, "stdout": o.read(), "stderr": e.read()}
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
