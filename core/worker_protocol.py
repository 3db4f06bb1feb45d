"""The contract between ``python -m core.worker`` and the Blender add-on: JSON lines, one message per line.

This module is standard-library only and imports nothing from depthshot, because it exists twice: here (the
worker's side) and, byte for byte, as ``blender_addon/worker_protocol.py`` (the add-on is installed from its own
zip, without the core, and must never import torch). A test asserts the two files are identical, and the worker's
``start`` reply carries ``PROTOCOL_VERSION`` so an add-on and a worker of different releases refuse each other
with a one-line reason instead of misreading fields.

add-on -> worker, on stdin, one line: ``{"type": "start", "protocol": N, "task": T, "job": {...}}``: task
``depth`` (the default) with the ``core.depth.DepthJob`` fields (``engine: "vda-stream"`` for a quick preview),
``import`` with the keyword arguments of ``core.depth.import_depth.import_depth`` plus ``src`` and ``output``,
``poses`` (``python -m core.poses``: ``pass``, ``output`` the TUM file, optional ``import`` a pose file, ``near``,
``ratio``, ``fov``) or ``mesh`` (the fused TSDF mesh of ``python -m core.mesh --tsdf``: ``pass``, ``output`` the
folder, ``voxel``, ``poses`` ("estimate" or a pose file), optional ``near``, ``ratio``, ``fov``; PLY files
``shot_000.ply`` ...). Closing stdin is the cancel request (SIGTERM does the same); the worker then stops
within ``STOP_GRACE_S`` seconds, and the same job started again resumes.

worker -> add-on, on stdout (logs go to stderr): ``start``, any number of ``progress``, then exactly one of
``done`` or ``error``. ``MESSAGES`` lists every field with its type; ``None`` in a type tuple means the field may
be null (an ETA before the first frame, a frame count before the shot scan ends).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = 3  # 3: tasks poses and mesh

# worker exit status
EXIT_DONE = 0
EXIT_ERROR = 2  # expected failure: bad input, missing weights; the error message says what to do
EXIT_STOPPED = 130  # cancelled; the same job resumes

STOP_GRACE_S = 2.0  # after a cancel request the worker gives its job this long to unwind, then exits regardless
# the add-on kills a worker still there this long after the request (slack for a call that holds the GIL); it
# never waits for it: the panel shows "stopping" meanwhile
CANCEL_GRACE_S = STOP_GRACE_S + 8.0

TASKS = ("depth", "import", "poses", "mesh")

# progress stages, in the order a job goes through them ("import", "poses", "mesh": only in the task of that name)
STAGES = ("load", "scan", "depth", "import", "poses", "mesh", "preview", "done")

_NUMBER = (int, float)
MESSAGES: dict[str, dict[str, tuple[type | None, ...]]] = {
    "start": {"protocol": (int,), "pid": (int,)},
    "progress": {
        "stage": (str,),  # one of STAGES
        "frames_done": (int,),
        "frame_count": (int, None),  # None while unknown (before the scan has counted the frames)
        "fps": (*_NUMBER, None),  # None before the first frame of this run
        "eta_s": (*_NUMBER, None),  # None while unknown
    },
    # pass: the depth pass the task made or changed (poses: recorded in it; mesh: the pass the mesh is of);
    # reused: the output folder already held this very job's finished pass (nothing was computed)
    "done": {"pass": (str,), "reused": (bool,)},
    # kind: "input" (bad input or settings), "weights" (model missing: the message says how to get it),
    # "stopped" (cancelled), "internal" (a bug)
    "error": {"message": (str,), "kind": (str,)},
}
ERROR_KINDS = ("input", "weights", "stopped", "internal")


class ProtocolError(ValueError):
    """A line that is not a valid message of this protocol version."""


@dataclass(frozen=True)
class Message:
    """One decoded message: ``type`` and its fields (every field of ``MESSAGES[type]`` is present)."""

    type: str
    fields: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]


def _check(kind: str, fields: dict[str, Any]) -> None:
    spec = MESSAGES.get(kind)
    if spec is None:
        raise ProtocolError(f"unknown message type {kind!r}")
    missing = sorted(set(spec) - set(fields))
    extra = sorted(set(fields) - set(spec))
    if missing or extra:
        raise ProtocolError(f"{kind} message: missing {missing}, unexpected {extra}")
    for name, types in spec.items():
        value = fields[name]
        if value is None:
            if None not in types:
                raise ProtocolError(f"{kind} message: {name} may not be null")
        elif isinstance(value, bool) and bool not in types:
            raise ProtocolError(f"{kind} message: {name} is a boolean")
        elif not isinstance(value, tuple(t for t in types if t is not None)):
            raise ProtocolError(f"{kind} message: {name} has type {type(value).__name__}")
    if kind == "progress" and fields["stage"] not in STAGES:
        raise ProtocolError(f"progress message: unknown stage {fields['stage']!r}")
    if kind == "error" and fields["kind"] not in ERROR_KINDS:
        raise ProtocolError(f"error message: unknown kind {fields['kind']!r}")


def encode(message_type: str, /, **fields: Any) -> str:
    """One protocol line (with its newline) of type ``message_type``; ``ProtocolError`` if the fields do not fit."""
    _check(message_type, fields)
    return json.dumps({"type": message_type, **fields}) + "\n"


def decode(line: str) -> Message:
    """The message of one stdout line of the worker; ``ProtocolError`` for anything else."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("not a JSON object with a type")
    kind = data.pop("type")
    _check(kind, data)
    return Message(kind, data)


def start_request(job: dict[str, Any], task: str = "depth") -> str:
    """The add-on's request line for ``job`` of ``task`` (paths as strings)."""
    if task not in TASKS:
        raise ProtocolError(f"unknown task {task!r}")
    return json.dumps({"type": "start", "protocol": PROTOCOL_VERSION, "task": task, "job": job}) + "\n"


def parse_start_request(line: str) -> tuple[str, dict[str, Any]]:
    """``(task, job fields)`` of a request line; ``ProtocolError`` (with a one-line reason) if it is not one."""
    try:
        request = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"worker request is not JSON: {exc}") from None
    if not isinstance(request, dict) or request.get("type") != "start" or not isinstance(request.get("job"), dict):
        raise ProtocolError('worker request must be {"type": "start", "protocol": N, "job": {...}}')
    if request.get("protocol") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"the worker speaks protocol {PROTOCOL_VERSION}, the add-on {request.get('protocol')!r}: "
            "install the depthshot release that matches the add-on"
        )
    task = request.get("task", "depth")
    if task not in TASKS:
        raise ProtocolError(f"unknown task {task!r} (expected one of {', '.join(TASKS)})")
    return task, request["job"]


def check_start_reply(message: Message) -> None:
    """``ProtocolError`` unless ``message`` is the worker's ``start`` reply of this protocol version."""
    if message.type != "start":
        raise ProtocolError(f"the worker's first message is {message.type!r}, expected 'start'")
    if message["protocol"] != PROTOCOL_VERSION:
        raise ProtocolError(
            f"the worker speaks protocol {message['protocol']}, the add-on {PROTOCOL_VERSION}: "
            "install the depthshot release that matches the add-on"
        )
