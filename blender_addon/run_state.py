"""The state of running depth jobs, kept in Python and never in Blender data (no bpy here).

Properties of a PropertyGroup are saved into the .blend whatever their options, so a file saved mid-run would
reopen "running" with nobody running. The add-on keeps one ``RunBoard`` instead, keyed by the scene's
``session_uid`` (stable across undo, new for every loaded file); loading a file stops every worker and clears it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .worker_process import WorkerProcess


@dataclass
class RunStatus:
    """What the panel shows for one scene: the running worker (None when idle), progress and a status line."""

    worker: WorkerProcess | None = None
    progress: float = 0.0  # percent
    text: str = ""
    cancel_requested: bool = False

    @property
    def running(self) -> bool:
        """Whether a job of this scene is in progress."""
        return self.worker is not None


class RunBoard:
    """Run state per scene key; ``stop_all`` ends every worker (file load, add-on disabled)."""

    def __init__(self) -> None:
        self._runs: dict[int, RunStatus] = {}

    def get(self, key: int) -> RunStatus:
        """The status of scene ``key`` (an idle one if there is none yet)."""
        return self._runs.setdefault(key, RunStatus())

    def running(self, key: int) -> bool:
        """Whether scene ``key`` has a job in progress."""
        status = self._runs.get(key)
        return status is not None and status.running

    def stop_all(self) -> None:
        """Kill every worker (their jobs resume later) and forget all state."""
        for status in self._runs.values():
            if status.worker is not None:
                status.worker.kill()
        self._runs.clear()


RUNS = RunBoard()  # the add-on's one board: Blender calls operators and panels without a place to pass it in


@dataclass
class EnvStatus:
    """The Create Worker Environment job (one per Blender session, not per file): None when idle."""

    job: object | None = None  # a worker_env.EnvJob while it runs
    text: str = ""


ENV = EnvStatus()
