"""Helpers of the reliability tests: running a command as a user would, and checking what a refusal leaves."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}


def dead_pid() -> int:
    """The id of a process that has exited (what a ``kill -9``-ed writer leaves in its temporary file names)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def run(module: str, *args: object, timeout: float = 300, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` from the checkout, as a user runs it; stdout/stderr captured as text."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO, env=ENV, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(stderr: str) -> str:
    """The single ``error: ...`` line of a refused run's stderr (assertion error when it is not exactly that)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file and folder under ``roots`` -> sha256 of its bytes ("dir" for folders): compare before/after."""
    out: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            continue
        items = [root, *root.rglob("*")] if root.is_dir() else [root]
        for p in items:
            out[str(p)] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class Commands:
    """Runs command lines through one fork server (``core.bench._forkrun``: a fork per command line; the libraries
    are imported once, each command still runs as ``python -m`` runs it, in a process of its own)."""

    def __init__(self) -> None:
        from core.bench._forkrun import ForkRunner

        self._runner = ForkRunner(env=ENV, cwd=REPO)

    def __call__(self, module: str, *args: object, stdin: str | None = None) -> subprocess.CompletedProcess:
        argv = [str(a) for a in args]
        r = self._runner.run(module, argv, stdin=stdin)
        return subprocess.CompletedProcess([module, *argv], r.returncode, r.stdout, r.stderr)

    def close(self) -> None:
        self._runner.close()
