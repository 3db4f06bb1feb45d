"""``python -m core.worker``: the depth engine as a child process of the Blender add-on (JSON-lines protocol).

stdin, one line: ``{"type": "start", "protocol": 1, "job": {...}}`` with ``core.depth.DepthJob`` fields
(input, output, model, weights, input_size, max_res, precision, device, shots, start, end).
stdout, one JSON object per line: ``start`` (protocol, pid), ``progress`` (frames_done, frame_count, fps, eta_s,
stage), then ``done`` (pass: the depth pass folder) or ``error`` (message). Logs go to stderr. End of stdin
(the add-on went away) or SIGTERM stops the job; running the same job again resumes it.
Exit status: 0 done, 2 expected error (bad input, missing weights), 130 stopped, 1 a bug.
"""

from __future__ import annotations

import _thread
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from core.cli import run_main, setup_logging
from core.errors import DepthshotError

PROTOCOL_VERSION = 1
log = logging.getLogger(__name__)


class ProtocolWriter:
    """Writes protocol messages, one flushed JSON line each."""

    def __init__(self, stream: IO[str]):
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, kind: str, **fields: Any) -> None:
        """Emit ``{"type": kind, **fields}``."""
        with self._lock:
            self._stream.write(json.dumps({"type": kind, **fields}) + "\n")
            self._stream.flush()


def parse_request(line: str) -> dict[str, Any]:
    """Decode the ``start`` request line into the job's keyword arguments; DepthshotError if malformed."""
    try:
        request = json.loads(line)
    except ValueError as exc:
        raise DepthshotError(f"worker request is not JSON: {exc}") from None
    if not isinstance(request, dict) or request.get("type") != "start" or not isinstance(request.get("job"), dict):
        raise DepthshotError("worker request must be {\"type\": \"start\", \"job\": {...}}")
    if request.get("protocol") != PROTOCOL_VERSION:
        raise DepthshotError(f"worker speaks protocol {PROTOCOL_VERSION}, got {request.get('protocol')!r}")
    return request["job"]


def make_job(fields: dict[str, Any]):
    """A ``core.depth.DepthJob`` from the request's job fields (paths as strings)."""
    from core.depth import DepthJob

    known = {f.name for f in dataclasses.fields(DepthJob)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise DepthshotError(f"unknown job fields: {', '.join(unknown)}")
    for key in ("input", "output", "weights"):
        if fields.get(key) is not None:
            if not isinstance(fields[key], str):
                raise DepthshotError(f"job field {key} must be a path string, got {fields[key]!r}")
            fields[key] = Path(fields[key])
    try:
        return DepthJob(**fields)
    except TypeError as exc:  # a required field missing
        raise DepthshotError(f"bad job: {exc}") from None


def _stop_when_stdin_closes(stdin: IO[str]) -> None:
    for _ in stdin:
        pass
    _thread.interrupt_main()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Read one job request on stdin, run it, report on stdout."""
    setup_logging()
    protocol = ProtocolWriter(os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8"))
    sys.stdout = sys.stderr  # nothing but protocol lines on the real stdout
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        from core.depth import run_depth

        from core.depth.job import check_job

        job = make_job(parse_request(sys.stdin.readline()))
        check_job(job)  # a bad job is reported as such even when stdin closes right after the request
        threading.Thread(target=_stop_when_stdin_closes, args=(sys.stdin,), daemon=True).start()
        protocol.send("start", protocol=PROTOCOL_VERSION, pid=os.getpid())

        def on_progress(p) -> None:
            protocol.send(
                "progress", frames_done=p.frames_done, frame_count=p.frame_count, fps=p.fps, eta_s=p.eta_s,
                stage=p.stage,
            )

        path = run_depth(job, on_progress=on_progress)
    except DepthshotError as exc:
        protocol.send("error", message=str(exc))
        raise
    except KeyboardInterrupt:
        protocol.send("error", message="stopped (run the same job again to resume)")
        raise
    except Exception as exc:
        protocol.send("error", message=f"{type(exc).__name__}: {exc}")
        raise
    protocol.send("done", **{"pass": str(path)})
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
