"""One depth job of a movie strip, advanced one tick at a time by the operator's modal timer.

``DepthRun.tick`` is the whole per-tick logic (poll the worker, show progress in the scene's settings, finish,
cancel or fail); the modal handler only maps events to it, so it runs the same without an event loop.
Blender data is looked up by name on every tick: references kept across ticks go stale after an undo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy

from . import scene_build
from .pass_manifest import PassError, read_manifest
from .worker_process import WorkerProcess, WorkerState

PASS_KEY = "depthshot_pass"  # custom property on the movie strip: its depth pass folder


@dataclass(frozen=True)
class Outcome:
    """What a tick decided: ``status`` is "running", "finished", "cancelled" or "failed"; ``message`` for the user."""

    status: str
    message: str = ""


class DepthRun:
    """The depth job of the movie strip ``strip_name`` in ``scene_name``; ``worker`` is None when the pass exists."""

    def __init__(self, scene_name: str, strip_name: str, worker: WorkerProcess | None, pass_path: Path | None = None):
        self.scene_name, self.strip_name, self.worker = scene_name, strip_name, worker
        self._done = WorkerState(pass_path=pass_path, finished=True) if worker is None else None
        settings = self._settings()
        settings.running, settings.cancel_requested, settings.progress = worker is not None, False, 0.0
        settings.status = "starting"

    def tick(self, cancel: bool = False) -> Outcome:
        """Advance without blocking: ``cancel`` (Esc) or the panel's Cancel stops the worker."""
        settings = self._settings()
        if self.worker is None:
            return self._end(self._done)
        if cancel or settings.cancel_requested:
            self.worker.cancel()
            return self._end(self.worker.state)
        state = self.worker.poll()
        settings.progress = 100.0 * state.fraction
        settings.status = f"{state.stage} {state.frames_done}/{state.frame_count}" + (
            f", {state.fps:.1f} fps, {state.eta_s:.0f} s left" if state.fps else ""
        )
        _redraw_sequencers()
        return self._end(state) if state.finished else Outcome("running")

    def wait(self) -> Outcome:
        """Block until the worker ends (background mode and scripts)."""
        return self._end(self._done if self.worker is None else self.worker.wait())

    def _settings(self):
        return bpy.data.scenes[self.scene_name].depthshot

    def _end(self, state: WorkerState) -> Outcome:
        scene = bpy.data.scenes[self.scene_name]
        settings = scene.depthshot
        settings.running = settings.cancel_requested = False
        if state.cancelled:
            settings.status = "cancelled (run again to resume)"
            return Outcome("cancelled", "depth cancelled; running it again resumes")
        if state.error is not None:
            settings.status = f"failed: {state.error}"
            return Outcome("failed", f"depth failed: {state.error}")
        try:
            manifest = read_manifest(state.pass_path)
        except PassError as exc:
            settings.status = f"failed: {exc}"
            return Outcome("failed", str(exc))
        source = scene.sequence_editor.strips.get(self.strip_name)
        if source is None:
            settings.status = f"failed: the strip {self.strip_name!r} is gone"
            return Outcome("failed", f"the strip {self.strip_name!r} was removed; the pass is {manifest.path}")
        source[PASS_KEY] = str(manifest.path)
        scene_build.add_depth_strip(scene, source, manifest)
        settings.progress, settings.status = 100.0, f"done: {manifest.frame_count} frames"
        return Outcome("finished", f"depth pass: {manifest.path}")


def _redraw_sequencers() -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()
