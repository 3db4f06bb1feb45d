"""Create Worker Environment as a background job: a virtual environment with the depthshot matching the add-on and a
pinned torch (no bpy here).

The steps run one after the other as child processes; ``EnvJob.poll()`` never blocks, so a modal timer drives it
and Blender stays responsive. torch is pinned through a pip constraints file, as the README's install section says:
a torch already in the environment keeps its version (e.g. a CUDA build the user installed first), otherwise
``TORCH_PIN``. A bare, unpinned ``torch`` would resolve to the newest build with gigabytes of CUDA packages.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

TORCH_VERSION = "2.13.0"  # the README's pin (setup.sh installs the same when no torch is there)
CONSTRAINTS = "constraints.txt"
_TAIL = 20

# run inside the new environment: pin the torch that is there, or TORCH_VERSION (argv: constraints path, version)
_PIN_TORCH = (
    "import importlib.metadata as m, sys\n"
    "try:\n    v = m.version('torch').split('+')[0]\n"
    "except m.PackageNotFoundError:\n    v = sys.argv[2]\n"
    "open(sys.argv[1], 'w').write(f'torch=={v}\\n')\n"
    "print(f'torch pinned to {v}')\n"
)


def addon_version(manifest: Path) -> str:
    """The add-on's version from its ``blender_manifest.toml``."""
    return str(tomllib.loads(manifest.read_text(encoding="utf-8"))["version"])


def package_spec(spec: str, version: str) -> str:
    """What pip installs: ``spec``, a depthshot wheel or source checkout the user points at, or, when empty,
    ``depthshot==<the add-on's version>``; ValueError (one line) for anything else, e.g. a bare package name
    that could resolve to another release."""
    spec = spec.strip()
    if not spec:
        return f"depthshot=={version}"
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "pyproject.toml").is_file():
            raise ValueError(f"{path} is not a depthshot source checkout (no pyproject.toml)")
        return str(path)
    if path.suffix == ".whl":
        if not path.is_file():
            raise ValueError(f"{path}: no such wheel")
        return str(path)
    raise ValueError(f"point at a depthshot wheel (.whl) or source checkout, or leave it empty for "
                     f"depthshot=={version}; got {spec!r}")


def env_python(root: Path) -> Path:
    """The interpreter of the environment at ``root``."""
    return root / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


@dataclass(frozen=True)
class Step:
    """One command of the job, with the label the panel shows while it runs."""

    label: str
    argv: list[str]


def plan(base_python: str, root: Path, spec: str) -> list[Step]:
    """The steps that make the environment ``root`` with ``base_python`` and install ``spec`` into it (pip reads
    the user's own configuration, e.g. a find-links folder of local wheels)."""
    python = str(env_python(root))
    constraints = str(root / CONSTRAINTS)
    return [
        Step("creating the environment", [base_python, "-m", "venv", str(root)]),
        Step("pinning torch", [python, "-c", _PIN_TORCH, constraints, TORCH_VERSION]),
        Step("installing depthshot", [python, "-m", "pip", "install", "--disable-pip-version-check",
                                      "--progress-bar", "off", "-c", constraints, spec]),
        Step("checking the worker", [python, "-P", "-c", "import core.worker; print('worker importable')"]),
    ]


@dataclass
class EnvState:
    """Progress of the job: the running step, its last output line, and the outcome."""

    step: int = 0
    steps: int = 0
    label: str = ""
    last_line: str = ""
    error: str | None = None
    cancelled: bool = False
    finished: bool = False
    tail: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the preferences, e.g. ``2/4 pinning torch: torch pinned to 2.13.0``."""
        if self.finished:
            return "cancelled" if self.cancelled else (f"failed: {self.error}" if self.error else "ready")
        return f"{self.step + 1}/{self.steps} {self.label}" + (f": {self.last_line}" if self.last_line else "")


class EnvJob:
    """Runs ``steps`` one after the other as child processes; ``poll`` advances without blocking."""

    def __init__(self, steps: list[Step], env: dict[str, str] | None = None):
        self.steps, self.env = steps, dict(os.environ if env is None else env)
        self.state = EnvState(steps=len(steps))
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._start(0)

    def _start(self, index: int) -> None:
        step = self.steps[index]
        self.state.step, self.state.label, self.state.last_line = index, step.label, ""
        try:
            self._proc = subprocess.Popen(step.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True, env=self.env)
        except OSError as exc:
            self._finish(error=f"{step.label}: cannot run {step.argv[0]}: {exc.strerror}")
            return
        lines = self._lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self._proc.stdout, lines), daemon=True).start()

    @staticmethod
    def _pump(stream, lines: queue.Queue) -> None:
        for line in stream:
            lines.put(line.rstrip())
        lines.put(None)

    def poll(self) -> EnvState:
        """Take the output so far; start the next step when one ends; ``finished`` after the last or a failure."""
        while not self.state.finished:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                code = self._proc.wait()
                if code != 0:
                    last = next((s for s in reversed(self.state.tail) if s.strip()), "no output")
                    self._finish(error=f"{self.state.label} failed (status {code}): {last}")
                elif self.state.step + 1 < len(self.steps):
                    self._start(self.state.step + 1)
                else:
                    self._finish()
                continue
            if line.strip():
                self.state.last_line = line.strip()[:120]
                self.state.tail = [*self.state.tail, line][-_TAIL:]
        return self.state

    def cancel(self) -> None:
        """Stop the running step (SIGTERM, then SIGKILL) and end the job."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._finish(cancelled=True)

    def _finish(self, error: str | None = None, cancelled: bool = False) -> None:
        if not self.state.finished:
            self.state.error, self.state.cancelled, self.state.finished = error, cancelled, True
