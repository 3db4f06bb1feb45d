"""Run ``python -P -m core.worker`` as a child process and follow its JSON-lines messages (no bpy here).

The messages are defined in ``worker_protocol`` (a copy of the core's ``core/worker_protocol.py``). Nothing here
blocks the caller: ``poll()`` applies what has arrived, and ``cancel()`` only asks (end of stdin); the worker is
killed by a later ``poll()`` when it is still there ``CANCEL_GRACE_S`` seconds after the request.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .worker_protocol import CANCEL_GRACE_S, Message, ProtocolError, check_start_reply, decode, start_request

STDERR_TAIL_LINES = 20
_MISMATCH_HINT = "install the depthshot release that matches the add-on"
STAGE_TEXT = {
    "starting": "starting the worker",
    "load": "loading the model",
    "scan": "finding shots",
    "depth": "depth",
    "import": "importing depth",
    "poses": "camera poses",
    "mesh": "fusing the mesh",
    "preview": "writing the preview",
    "done": "done",
}


@dataclass
class WorkerState:
    """What the add-on knows about a job; ``finished`` once the worker process is gone (and reaped)."""

    stage: str = "starting"
    frames_done: int = 0
    frame_count: int | None = None  # None while the worker does not know it yet
    fps: float | None = None
    eta_s: float | None = None
    pass_path: Path | None = None
    reused: bool = False  # the pass was already there, made by this very job
    error: str | None = None
    error_kind: str | None = None
    started: bool = False  # the worker's start reply arrived (and its protocol matches)
    cancelled: bool = False
    finished: bool = False
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Progress in ``[0, 1]`` (0 while the frame count is unknown)."""
        return min(1.0, self.frames_done / self.frame_count) if self.frame_count else 0.0

    def describe(self) -> str:
        """One line for the panel, e.g. ``depth 12/40, 3.1 fps, 9 s left`` or ``finding shots``."""
        text = STAGE_TEXT.get(self.stage, self.stage)
        if self.stage == "depth":
            text += f" {self.frames_done}/{self.frame_count if self.frame_count is not None else '?'}"
            if self.fps:
                text += f", {self.fps:.1f} fps"
            if self.eta_s is not None:
                text += f", {self.eta_s:.0f} s left"
        elif self.stage == "import":
            text += f" {self.frames_done}/{self.frame_count if self.frame_count is not None else '?'}"
        elif self.stage == "scan" and self.frame_count:
            text += f" in {self.frame_count} frames"
        return text


def apply_message(state: WorkerState, message: Message) -> None:
    """Update ``state`` with one decoded protocol message (null fields stay null)."""
    if message.type == "start":
        state.started = True
    elif message.type == "progress":
        state.stage = message["stage"]
        state.frames_done = message["frames_done"]
        state.frame_count = message["frame_count"]
        state.fps = None if message["fps"] is None else float(message["fps"])
        state.eta_s = None if message["eta_s"] is None else float(message["eta_s"])
    elif message.type == "done":
        state.pass_path = Path(message["pass"])
        state.reused = message["reused"]
        state.stage = "done"
    elif message.type == "error":
        state.error, state.error_kind = message["message"], message["kind"]


def worker_command(python: str) -> list[str]:
    """``python -P -m core.worker``: ``-P`` keeps the working directory off ``sys.path``, so a ``core/`` folder
    there never replaces the installed depthshot."""
    return [python, "-P", "-m", "core.worker"]


def worker_env(online: bool, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: ``base`` (default: ours), and ``HF_HUB_OFFLINE=1`` unless ``online``."""
    env = dict(os.environ if base is None else base)
    if not online:
        env["HF_HUB_OFFLINE"] = "1"
    return env


def _loose_error(line: str) -> str | None:
    """The message of an ``error`` line of another protocol version (an older or newer worker), if it is one."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("type") == "error" and isinstance(data.get("message"), str):
        return data["message"]
    return None


class WorkerProcess:
    """One worker child process, started in the fixed folder ``cwd`` with ``env``."""

    def __init__(
        self, python: str, job: dict, *, cwd: str | os.PathLike[str], env: Mapping[str, str], task: str = "depth"
    ):
        self.state = WorkerState()
        self.grace_s = CANCEL_GRACE_S
        self._kill_at: float | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        self._proc = subprocess.Popen(
            worker_command(python),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=dict(env),
            cwd=str(cwd),
        )
        threading.Thread(target=self._pump, args=(self._proc.stdout, self._lines), daemon=True).start()
        self._stderr_thread = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_thread.start()
        try:
            self._proc.stdin.write(start_request(job, task))
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

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self._proc.pid

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for (cancel or kill)."""
        return self._kill_at is not None

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self._proc.poll() is None

    def poll(self) -> WorkerState:
        """Apply every message received so far, without blocking; ``finished`` once the process has exited."""
        if self._kill_at is not None and time.monotonic() >= self._kill_at and self.alive:
            self._proc.kill()
        while not self.state.finished:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            self._take(line)
        return self.state

    def wait(self, timeout_s: float | None = None) -> WorkerState:
        """Block until the worker ends (the synchronous path for scripts); kill it after ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.state.finished:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                line = self._lines.get(timeout=remaining if remaining is not None else 0.5)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    self.kill()
                self.poll()
                continue
            self._take(line)
        return self.state

    def cancel(self) -> None:
        """Ask the worker to stop (end of stdin); ``poll()`` kills it if it is still there after ``grace_s``."""
        if self._kill_at is None:
            self._kill_at = time.monotonic() + self.grace_s
            self._close_stdin()

    def kill(self) -> None:
        """End the worker now (SIGKILL) and reap it; its job still resumes later."""
        self._kill_at = time.monotonic()
        if self.alive:
            self._proc.kill()
        self._proc.wait()

    def _close_stdin(self) -> None:
        try:
            self._proc.stdin.close()
        except OSError:
            pass

    def _take(self, line: str | None) -> None:
        if line is None:
            self._on_exit()
        else:
            self._on_line(line)

    def _on_line(self, line: str) -> None:
        if not line.strip():
            return
        try:
            message = decode(line)
            if not self.state.started and message.type != "error":
                check_start_reply(message)
        except ProtocolError as exc:
            if self.state.error is None:
                self.state.error = _loose_error(line) or f"the worker's reply does not fit ({exc}); {_MISMATCH_HINT}"
                self.state.error_kind = "protocol"
            self.cancel()
            return
        apply_message(self.state, message)

    def _on_exit(self) -> None:
        code = self._proc.wait()
        self._stderr_thread.join(timeout=5)
        self._close_stdin()
        state = self.state
        state.stderr_tail = list(self._stderr)
        if state.pass_path is None and self._kill_at is not None and state.error_kind in (None, "stopped"):
            state.cancelled = True  # asked to stop, and it stopped (or was killed)
        elif state.pass_path is None and state.error is None:
            last = next((s for s in reversed(self._stderr) if s.strip()), "")
            state.error = f"the worker exited with status {code}" + (f": {last}" if last else "")
        elif state.error is None and code != 0:
            state.error = f"the worker exited with status {code}"
        state.finished = True
