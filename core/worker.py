"""``python -m core.worker``: the depth engine as a child process of the Blender add-on (JSON-lines protocol).

The messages, which of their fields may be null, the stages and the exit statuses are defined once, in
``core.worker_protocol`` (the add-on carries an identical copy). In short: one ``start`` request line on stdin
with ``core.depth.DepthJob`` fields; on stdout ``start`` (protocol, pid), ``progress`` (stage, frames_done,
frame_count, fps, eta_s), then ``done`` (pass, reused) or ``error`` (message, kind). Logs go to stderr.

End of stdin (the add-on's cancel, or the add-on went away) or SIGTERM stops the job; after end of stdin the worker
is gone within ``STOP_GRACE_S`` even when the main thread is inside a long model call (every file the engine writes
is atomic, so stopping anywhere is safe). Running the same job again resumes it. A job that cannot run (bad input,
missing or broken weights, a start past the end: found while it is validated and its engine loads) is answered with
its error even when stdin closes right after the request: the stop waits for the job to be under way, for at most
the same grace (an error found later than that answers "stopped").
"""

from __future__ import annotations

import _thread
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from core.cli import run_main, setup_logging
from core.errors import DepthshotError
from core.worker_protocol import (
    EXIT_STOPPED,
    PROTOCOL_VERSION,
    STOP_GRACE_S,
    ProtocolError,
    encode,
    parse_start_request,
)

log = logging.getLogger(__name__)
STOPPED_MESSAGE = "stopped (run the same job again to resume)"


class ProtocolWriter:
    """Writes protocol messages, one flushed line each; after the final ``done`` or ``error`` nothing more."""

    def __init__(self, stream: IO[str]):
        self._stream = stream
        self._lock = threading.Lock()
        self._closed = False

    def send(self, message_type: str, /, **fields: Any) -> None:
        """Emit a message (checked against the protocol); ignored once the final message went out."""
        line = encode(message_type, **fields)
        with self._lock:
            if self._closed:
                return
            self._closed = message_type in ("done", "error")
            self._stream.write(line)
            self._stream.flush()


def parse_request(line: str) -> tuple[str, dict[str, Any]]:
    """Decode the ``start`` request line into its task and the job's keyword arguments; DepthshotError if
    malformed."""
    try:
        return parse_start_request(line)
    except ProtocolError as exc:
        raise DepthshotError(str(exc)) from None


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


class _WeightsError(DepthshotError):
    """The model's weights are missing or unusable (the message says how to get them)."""


def _check_weights(job) -> None:
    """Find the vda (or vda-stream) checkpoint before anything else, so a missing model is reported as such."""
    from core.depth.engines import get_engine, make_config
    from core.depth.engines.vda import VdaEngine

    engine = get_engine(job.engine)
    config = make_config(engine, job.engine_options())
    if not isinstance(engine, VdaEngine):
        return
    from core.models.weights import resolve_weights

    try:
        resolve_weights(config.model, config.weights)
    except DepthshotError as exc:
        raise _WeightsError(str(exc)) from None


_IMPORT_FIELDS = ("src", "output", "scale", "kind", "fps", "video", "intrinsics", "max_frames", "fill")


def _run_import(fields: dict[str, Any], protocol: ProtocolWriter, state: "_JobState") -> Path:
    """The import task: ``core.depth.import_depth`` into ``fields["output"]``, reporting frames imported (the
    first report marks it under way in ``state``)."""
    from core.depth.import_depth import import_depth

    unknown = sorted(set(fields) - set(_IMPORT_FIELDS))
    if unknown:
        raise DepthshotError(f"unknown import fields: {', '.join(unknown)}")
    if "src" not in fields or "output" not in fields:
        raise DepthshotError("an import needs src and output")
    options = {k: v for k, v in fields.items() if k not in ("src", "output") and v is not None}

    def on_progress(stage: str, done: int, total: int | None) -> None:
        state.under_way.set()
        protocol.send("progress", stage="import", frames_done=done, frame_count=total, fps=None, eta_s=None)

    import_depth(fields["src"], fields["output"], **options, on_progress=on_progress)
    return Path(fields["output"])


@dataclasses.dataclass
class _JobState:
    """How far the job got, for the stop: ``under_way`` once the library reports its first progress (the job is
    validated, its engine loaded, its output claimed); ``failed`` once it raised."""

    under_way: threading.Event = dataclasses.field(default_factory=threading.Event)
    failed: threading.Event = dataclasses.field(default_factory=threading.Event)

    def fail(self) -> None:
        self.failed.set()
        self.under_way.set()


# the poses and mesh tasks: job field -> (type, command-line flag of core.poses / core.mesh); pass and output required
_GEOMETRY_FLAGS: dict[str, tuple[type, str]] = {
    "import": (str, "--import"), "poses": (str, "--poses"), "voxel": (float, "--tsdf"),
    "near": (float, "--near"), "ratio": (float, "--near-far-ratio"), "fov": (float, "--fov"),
}
_TASK_FIELDS = {"poses": ("import", "near", "ratio", "fov"), "mesh": ("voxel", "poses", "near", "ratio", "fov")}


def geometry_argv(task: str, fields: dict[str, Any]) -> list[str]:
    """The command line of ``core.poses`` (task ``poses``) or ``core.mesh --tsdf`` (task ``mesh``) for the job
    ``fields``; DepthshotError (one line) for unknown, missing or mistyped fields."""
    allowed = ("pass", "output", *_TASK_FIELDS[task])
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise DepthshotError(f"unknown {task} fields: {', '.join(unknown)}")
    required = ("pass", "output", "voxel") if task == "mesh" else ("pass", "output")
    missing = [k for k in required if fields.get(k) is None]
    if missing:
        raise DepthshotError(f"a {task} task needs {', '.join(missing)}")
    argv = []
    for key in allowed:
        value = fields.get(key)
        if value is None:
            continue
        kind = _GEOMETRY_FLAGS[key][0] if key in _GEOMETRY_FLAGS else str
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else str):
            raise DepthshotError(f"{task} field {key} must be a {'number' if kind is float else 'string'}, "
                                 f"got {value!r}")
        if key not in ("pass", "output"):
            argv += [_GEOMETRY_FLAGS[key][1], str(value)]
    argv = [fields["pass"], "-o", fields["output"], *argv]
    return argv + ["--format", "ply"] if task == "mesh" else argv


def _frame_reporter(protocol: ProtocolWriter, stage: str) -> Callable[[int, int], None]:
    """An ``on_frame(done, total)`` callback that sends ``progress`` for ``stage`` with frames/s and ETA."""
    t0 = time.monotonic()

    def on_frame(done: int, total: int) -> None:
        fps = done / max(time.monotonic() - t0, 1e-9)
        protocol.send("progress", stage=stage, frames_done=done, frame_count=total, fps=fps,
                      eta_s=(total - done) / fps)

    return on_frame


def _run_poses(fields: dict[str, Any], protocol: ProtocolWriter, state: _JobState) -> Path:
    """The poses task: ``python -m core.poses`` (estimate, or ``import`` a pose file), reporting frames done."""
    from core import poses

    args = poses.parse_args(geometry_argv("poses", fields))
    protocol.send("progress", stage="poses", frames_done=0, frame_count=None, fps=None, eta_s=None)
    state.under_way.set()  # parsed: what fails from here is the work
    poses.run(args, _frame_reporter(protocol, "poses"))
    return Path(fields["pass"])


def _run_mesh(fields: dict[str, Any], protocol: ProtocolWriter, state: _JobState) -> Path:
    """The mesh task: ``python -m core.mesh PASS --tsdf VOXEL --format ply`` into ``output``, reporting frames
    fused."""
    from core import mesh

    args = mesh.parse_args(geometry_argv("mesh", fields))
    protocol.send("progress", stage="mesh", frames_done=0, frame_count=None, fps=None, eta_s=None)
    state.under_way.set()  # parsed: what fails from here is the work
    mesh.run(args, _frame_reporter(protocol, "mesh"))
    return Path(fields["pass"])


def _stop_when_stdin_closes(stdin: IO[str], protocol: ProtocolWriter, state: _JobState) -> None:
    """Wait for end of stdin, then for the job to be under way (a job that fails before is reported as such), at
    most ``STOP_GRACE_S``; interrupt it, and end the process if it has not ended ``STOP_GRACE_S`` after end of
    stdin."""
    for _ in stdin:
        pass
    deadline = time.monotonic() + STOP_GRACE_S
    state.under_way.wait(STOP_GRACE_S)
    if state.failed.is_set():
        return  # the main thread reports the job's error and exits
    _thread.interrupt_main()
    time.sleep(max(0.0, deadline - time.monotonic()))
    protocol.send("error", message=STOPPED_MESSAGE, kind="stopped")
    logging.shutdown()
    os._exit(EXIT_STOPPED)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Read one job request on stdin, run it, report on stdout."""
    setup_logging()
    protocol = ProtocolWriter(os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8"))
    sys.stdout = sys.stderr  # nothing but protocol lines on the real stdout
    signal.signal(signal.SIGTERM, _raise_interrupt)
    state = _JobState()
    try:
        task, fields = parse_request(sys.stdin.readline())
        job = make_job(fields) if task == "depth" else None
        protocol.send("start", protocol=PROTOCOL_VERSION, pid=os.getpid())
        if job is not None:
            from core.depth.job import check_job

            check_job(job)  # the options and the input (and the imports) before the stop is watched for
        threading.Thread(target=_stop_when_stdin_closes, args=(sys.stdin, protocol, state), daemon=True).start()
        if task in ("import", "poses", "mesh"):
            run = {"import": _run_import, "poses": _run_poses, "mesh": _run_mesh}[task]
            protocol.send("done", **{"pass": str(run(fields, protocol, state)), "reused": False})
            return 0
        protocol.send("progress", stage="load", frames_done=0, frame_count=None, fps=None, eta_s=None)
        _check_weights(job)
        from core.depth import run_depth

        reused = (Path(job.output) / "depth_pass.json").is_file()

        def on_progress(p) -> None:
            state.under_way.set()
            protocol.send(
                "progress", stage=p.stage, frames_done=p.frames_done, frame_count=p.frame_count or None,
                fps=p.fps if p.fps > 0 else None, eta_s=p.eta_s,
            )

        path = run_depth(job, on_progress=on_progress)
    except KeyboardInterrupt:
        protocol.send("error", message=STOPPED_MESSAGE, kind="stopped")
        raise
    except Exception as exc:
        state.fail()
        protocol.send("error", **_error_fields(exc))
        raise
    protocol.send("done", **{"pass": str(path), "reused": reused})
    return 0


def _error_fields(exc: Exception) -> dict[str, str]:
    """The final ``error`` message's fields for an exception of the job."""
    if isinstance(exc, _WeightsError):
        return {"message": str(exc), "kind": "weights"}
    if isinstance(exc, DepthshotError):
        return {"message": str(exc), "kind": "input"}
    return {"message": f"{type(exc).__name__}: {exc}", "kind": "internal"}


if __name__ == "__main__":
    sys.exit(run_main(main))
