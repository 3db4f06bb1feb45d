"""Run many ``python -m core.X ...`` command lines cheaply: one Python process imports the heavy libraries once,
then forks a child per command line that runs the command's ``__main__`` module exactly as ``python -m`` does
(``runpy``), with its own stdin, stdout, stderr and exit status. Used by the kill soak (``core.bench.soak``,
which kills the children at random instants of their work, not of their imports) and the bad-input tests.

Protocol (one JSON request per stdin line, one JSON answer per stdout line; the first line, ``{"ready": true}``,
says the imports are done):

- ``{"module", "argv", "stdin", "cwd"}``: run to the end; answer ``{"rc", "stdout", "stderr"}``.
- the same with ``"detach": true``: answer ``{"pid"}`` as soon as the child runs; then ``{"wait": PID}``
  answers ``{"rc", "stdout", "stderr"}`` when it ended (``rc`` is ``-9`` for a child killed by ``SIGKILL``).

``ForkRunner`` is the client.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path


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


def _start(request: dict) -> tuple[int, str]:
    """Fork a child running ``request``; returns its PID and the folder holding its out/err/in files."""
    tmp = tempfile.mkdtemp(prefix="forkrun-")
    paths = [os.path.join(tmp, name) for name in ("out", "err", "in")]
    for p in paths:
        open(p, "w").close()
    with open(paths[2], "w") as f:
        f.write(request.get("stdin") or "")
    pid = os.fork()
    if pid == 0:
        _child(request, *paths)
    return pid, tmp


def _reap(pid: int, tmp: str) -> dict:
    """Wait for child ``pid``; its exit status and output (removing its files)."""
    _, status = os.waitpid(pid, 0)
    try:
        with open(os.path.join(tmp, "out")) as o, open(os.path.join(tmp, "err")) as e:
            return {"rc": os.waitstatus_to_exitcode(status), "stdout": o.read(), "stderr": e.read()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def serve() -> None:
    """The server loop (``python -m core.bench._forkrun``): imports the libraries, then answers requests."""
    import av  # noqa: F401  (the heavy imports, once)
    import cv2  # noqa: F401
    import torch  # noqa: F401

    import core.depth.job  # noqa: F401
    import core.geometry.cli  # noqa: F401
    import core.geometry.fusion  # noqa: F401  (Open3D and trimesh: seconds; not core.mesh or core.pointcloud
    import core.geometry.mesh  # noqa: F401   themselves: a module run as __main__ must not be imported yet)
    import core.stereo.convert  # noqa: F401

    protocol = sys.stdout
    protocol.write(json.dumps({"ready": True}) + "\n")  # the client times runs from here
    protocol.flush()
    detached: dict[int, str] = {}
    for line in sys.stdin:
        request = json.loads(line)
        if "wait" in request:
            pid = int(request["wait"])
            answer = _reap(pid, detached.pop(pid))
        else:
            pid, tmp = _start(request)
            if request.get("detach"):
                detached[pid] = tmp
                answer = {"pid": pid}
            else:
                answer = _reap(pid, tmp)
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


@dataclass
class Finished:
    """A command line's exit status (negative: killed by that signal) and its output."""

    returncode: int
    stdout: str
    stderr: str


class ForkRunner:
    """Client of one fork server process (started at construction; ``close`` ends it)."""

    def __init__(self, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self._cwd = str(cwd or Path(__file__).resolve().parents[2])
        self._proc = subprocess.Popen([sys.executable, "-m", "core.bench._forkrun"], cwd=self._cwd, env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if not self._proc.stdout.readline():
            raise RuntimeError(f"the fork server did not start (exit {self._proc.wait()})")

    def _ask(self, request: dict) -> dict:
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the fork server ended (exit {self._proc.wait()})")
        return json.loads(line)

    def run(self, module: str, argv: list[str], stdin: str | None = None) -> Finished:
        """Run ``python -m MODULE ARGV`` in a fork to its end."""
        a = self._ask({"module": module, "argv": argv, "stdin": stdin, "cwd": self._cwd})
        return Finished(a["rc"], a["stdout"], a["stderr"])

    def start(self, module: str, argv: list[str]) -> int:
        """Start ``python -m MODULE ARGV`` in a fork; returns its PID (``wait`` for it)."""
        return int(self._ask({"module": module, "argv": argv, "cwd": self._cwd, "detach": True})["pid"])

    def wait(self, pid: int) -> Finished:
        """Wait for a started child to end."""
        a = self._ask({"wait": pid})
        return Finished(a["rc"], a["stdout"], a["stderr"])

    def close(self) -> None:
        """End the server (after its children)."""
        self._proc.stdin.close()
        self._proc.wait(timeout=60)


if __name__ == "__main__":
    serve()
