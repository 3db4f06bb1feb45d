"""Run ``python -m core.worker`` as a child process and read its JSON-lines messages (no bpy here).

Protocol (one JSON object per line, UTF-8):

* add-on -> worker, on stdin, one line: ``{"type": "start", "protocol": 1, "job": {...}}`` where ``job`` holds
  the ``core.depth.DepthJob`` fields (input, output, model, weights, input_size, precision, device, shots,
  start, end). Closing stdin or killing the process cancels; the engine resumes the same job later.
* worker -> add-on, on stdout: ``{"type": "start", "protocol": 1, "pid": ...}``, then any number of
  ``{"type": "progress", "frames_done", "frame_count", "fps", "eta_s", "stage"}``, then exactly one of
  ``{"type": "done", "pass": PATH}`` or ``{"type": "error", "message": TEXT}``. Logs go to stderr.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

PROTOCOL_VERSION = 1
STDERR_TAIL_LINES = 20


@dataclass
class WorkerState:
    """What the add-on knows about a running job; ``finished`` once the worker process is gone."""

    frames_done: int = 0
    frame_count: int = 0
    fps: float = 0.0
    eta_s: float = 0.0
    stage: str = "starting"
    pass_path: Path | None = None
    error: str | None = None
    cancelled: bool = False
    finished: bool = False
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Progress in ``[0, 1]``."""
        return self.frames_done / self.frame_count if self.frame_count else 0.0


def apply_message(state: WorkerState, message: dict) -> None:
    """Update ``state`` with one decoded protocol message."""
    kind = message.get("type")
    if kind == "progress":
        state.frames_done = int(message.get("frames_done", 0))
        state.frame_count = int(message.get("frame_count", 0))
        state.fps = float(message.get("fps", 0.0))
        state.eta_s = float(message.get("eta_s", 0.0))
        state.stage = str(message.get("stage", ""))
    elif kind == "done":
        state.pass_path = Path(message["pass"])
        state.stage = "done"
    elif kind == "error":
        state.error = str(message.get("message", "the worker failed"))
    elif kind == "start":
        state.stage = "started"


class WorkerProcess:
    """One worker child process; ``poll()`` never blocks, so a modal timer can call it."""

    def __init__(
        self, python: str, job: dict, env: dict[str, str] | None = None, cwd: str | None = None, grace_s: float = 5.0
    ):
        """Start ``python -m core.worker`` and send it ``job``; ``cancel`` kills it after ``grace_s`` seconds."""
        self.state = WorkerState()
        self.grace_s = grace_s
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._proc = subprocess.Popen(
            [python, "-m", "core.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        threading.Thread(target=self._pump, args=(self._proc.stdout, self._lines), daemon=True).start()
        self._stderr: list[str] = []
        self._stderr_thread = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_thread.start()
        request = {"type": "start", "protocol": PROTOCOL_VERSION, "job": job}
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except OSError:
            pass  # the worker died at once; poll() reports its exit status and stderr

    @staticmethod
    def _pump(stream, lines: queue.Queue) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    def _pump_stderr(self) -> None:
        for line in self._proc.stderr:
            self._stderr.append(line.rstrip())
            del self._stderr[:-STDERR_TAIL_LINES]

    def poll(self) -> WorkerState:
        """Apply every message received so far; ``finished`` once the process has exited (and is reaped)."""
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return self.state
            if line is None:
                self._on_exit()
                return self.state
            self._on_line(line)

    def wait(self) -> WorkerState:
        """Block until the worker ends (the synchronous path for background mode and tests)."""
        while True:
            line = self._lines.get()
            if line is None:
                self._on_exit()
                return self.state
            self._on_line(line)

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self._proc.pid

    def cancel(self) -> None:
        """Stop the worker: SIGTERM, SIGKILL after ``grace_s``; returns once it is gone (the job resumes later)."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=self.grace_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if not self.state.finished:
            self.state.cancelled = True
            self.state.finished = True

    def _on_line(self, line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            self.state.stderr_tail.append(line.rstrip())
            return
        if isinstance(message, dict):
            apply_message(self.state, message)

    def _on_exit(self) -> None:
        code = self._proc.wait()
        self._stderr_thread.join(timeout=5)
        self.state.stderr_tail = list(self._stderr)
        if self.state.pass_path is None and self.state.error is None:
            last = next((s for s in reversed(self._stderr) if s.strip()), "")
            self.state.error = f"the worker exited with status {code}" + (f": {last}" if last else "")
        elif self.state.error is None and code != 0:
            self.state.error = f"the worker exited with status {code}"
        self.state.finished = True
