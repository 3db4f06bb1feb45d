"""One depth job of a movie strip, advanced one tick at a time by the operator's modal timer.

``DepthRun.tick`` is the whole per-tick logic (poll the worker, show progress, finish, cancel or fail); the modal
handler only maps events to it, so it runs the same without an event loop. Whatever goes wrong inside a tick, the
run ends: the worker is stopped and the scene's run state is idle again. The run state lives in
``run_state.RUNS``, never in Blender data; Blender data is looked up on every tick (references go stale after undo).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import bpy

from . import scene_build
from .pass_manifest import PassError, PassManifest, read_manifest
from .scene_build import PASS_KEY
from .run_state import RUNS, RunStatus
from .worker_process import WorkerProcess, WorkerState

__all__ = ["PASS_KEY", "DepthRun", "Outcome"]
log = logging.getLogger(__name__)
WEIGHTS_HINT = "; in Blender: set the panel's Weights to the checkpoint file, or turn Online Access on"


@dataclass(frozen=True)
class Outcome:
    """What a tick decided: ``status`` is "running", "finished", "cancelled" or "failed"; ``message`` for the user."""

    status: str
    message: str = ""


def scene_by_uid(uid: int) -> bpy.types.Scene | None:
    """The scene whose ``session_uid`` is ``uid``, if it still exists."""
    return next((s for s in bpy.data.scenes if s.session_uid == uid), None)


# what a finished run does with its pass: (scene, movie strip, manifest) -> the panel's "done" text
OnDone = Callable[[bpy.types.Scene, bpy.types.Strip, PassManifest], str]


def attach_done(scene: bpy.types.Scene, source: bpy.types.Strip, manifest: PassManifest) -> str:
    """The default end of a run: attach the pass to the strip (its depth strip replaced)."""
    scene_build.attach_pass(scene, source, manifest)
    return f"done: {manifest.frame_count} frames"


class DepthRun:
    """The job of the movie strip ``strip_name`` of ``scene``, run by ``worker``; ``on_done`` uses the finished
    pass (default: ``attach_done``)."""

    def __init__(self, scene: bpy.types.Scene, strip_name: str, worker: WorkerProcess,
                 on_done: OnDone | None = None):
        self.scene_uid, self.strip_name, self.worker = scene.session_uid, strip_name, worker
        self.on_done = on_done or attach_done
        status = RUNS.get(self.scene_uid)
        status.worker, status.cancel_requested, status.progress = worker, False, 0.0
        status.text = worker.state.describe()

    @property
    def status(self) -> RunStatus:
        """This scene's run state."""
        return RUNS.get(self.scene_uid)

    def tick(self, cancel: bool = False) -> Outcome:
        """Advance without blocking: ``cancel`` (Esc) or the panel's Cancel asks the worker to stop."""
        try:
            return self._tick(cancel)
        except Exception as exc:  # a bug or vanished data: end the run, never leave it half-alive
            log.exception("depth run of %s failed", self.strip_name)
            return self._fail(f"{type(exc).__name__}: {exc}")

    def wait(self, timeout_s: float | None = None) -> Outcome:
        """Block until the worker ends (scripts and background mode)."""
        try:
            self.worker.wait(timeout_s)
            return self._tick(False)
        except Exception as exc:
            log.exception("depth run of %s failed", self.strip_name)
            return self._fail(f"{type(exc).__name__}: {exc}")

    def abort(self) -> None:
        """Stop at once (the operator was cancelled by Blender, e.g. a file load): kill the worker, go idle."""
        self.worker.kill()
        self._idle()

    def _tick(self, cancel: bool) -> Outcome:
        status = self.status
        if status.worker is not self.worker:  # the board was cleared (file loaded) or another run took over
            self.worker.kill()
            return Outcome("cancelled", "depth cancelled")
        if cancel or status.cancel_requested:
            self.worker.cancel()
        state = self.worker.poll()
        if not state.finished:
            status.progress = 100.0 * state.fraction
            status.text = "stopping…" if self.worker.stopping else state.describe()
            _redraw_sequencers()
            return Outcome("running")
        return self._end(state)

    def _idle(self) -> None:
        status = self.status
        if status.worker is self.worker:
            status.worker, status.cancel_requested = None, False

    def _fail(self, reason: str) -> Outcome:
        if self.worker.alive:
            self.worker.kill()
        self._idle()
        self.status.text = f"failed: {reason}"
        return Outcome("failed", f"depth failed: {reason}")

    def _end(self, state: WorkerState) -> Outcome:
        self._idle()
        status = self.status
        if state.cancelled:
            status.text = "cancelled (run again to resume)"
            return Outcome("cancelled", "depth cancelled; running it again resumes")
        if state.error is not None:
            hint = WEIGHTS_HINT if state.error_kind == "weights" else ""
            return self._fail(state.error + hint)
        try:
            manifest = read_manifest(state.pass_path)
        except PassError as exc:
            return self._fail(str(exc))
        scene = scene_by_uid(self.scene_uid)
        source = scene.sequence_editor.strips.get(self.strip_name) if scene and scene.sequence_editor else None
        if source is None:
            return self._fail(f"the strip {self.strip_name!r} was removed; the pass is {manifest.path}")
        try:
            text = self.on_done(scene, source, manifest)
        except PassError as exc:  # what the finished pass was for cannot be done (one line)
            return self._fail(str(exc))
        status.progress = 100.0
        status.text = text + (" (reused)" if state.reused else "")
        return Outcome("finished", f"depth pass: {manifest.path}")


def _redraw_sequencers() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()
