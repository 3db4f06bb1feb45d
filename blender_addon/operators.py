"""Operators: estimate depth for the active movie strip (worker process), build the 3D scene, render stereo."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import bpy

from . import jobs, preferences, scene_build
from .depth_run import PASS_KEY, DepthRun, Outcome
from .pass_manifest import PassError, read_manifest
from .run_state import RUNS
from .worker_process import WorkerProcess, worker_env

TIMER_S = 0.25


def active_movie_strip(context: bpy.types.Context) -> bpy.types.Strip | None:
    """The active strip of the Sequencer's scene, if it is a movie strip."""
    scene = context.sequencer_scene
    editor = scene.sequence_editor if scene else None
    strip = editor.active_strip if editor else None
    return strip if strip is not None and strip.type == "MOVIE" else None


def strip_time_range(strip: bpy.types.Strip) -> tuple[float, float]:
    """Source-time seconds ``(start, end)`` of the strip's visible part, honouring its trims and offsets."""
    scene = strip.id_data
    fps = strip.fps if strip.fps > 0 else scene.render.fps / scene.render.fps_base  # 0 when the file is missing
    return jobs.strip_time_range(strip.frame_start, strip.frame_final_start, strip.frame_final_end, fps)


def passes_folder() -> Path:
    """Where passes go: ``//depthshot/`` beside a saved .blend, else the add-on's user folder."""
    if bpy.data.filepath:
        return Path(bpy.path.abspath("//depthshot"))
    return Path(bpy.utils.extension_path_user(__package__, path="passes", create=True))


def worker_cwd() -> Path:
    """The worker's fixed working directory: the add-on's user folder (never Blender's current directory)."""
    return Path(bpy.utils.extension_path_user(__package__, create=True))


def depth_job(context: bpy.types.Context, strip: bpy.types.Strip) -> dict:
    """The worker's job for ``strip`` with the panel's settings (``jobs`` describes the fields)."""
    settings = context.sequencer_scene.depthshot
    prefs = context.preferences.addons[__package__].preferences
    start, end = strip_time_range(strip)
    job = {
        "input": bpy.path.abspath(strip.filepath),
        "model": settings.model,
        "weights": bpy.path.abspath(settings.weights) if settings.weights else None,
        "input_size": settings.input_size,
        "precision": settings.precision,
        "shots": settings.shots,
        "start": start,
        "end": end,
    }
    if prefs.device != "auto":
        job["device"] = prefs.device
    job["output"] = str(passes_folder() / jobs.pass_name(strip.name, job))
    return job


class StartError(Exception):
    """The depth job cannot start; the message is one line for the user."""


def start_depth_run(context: bpy.types.Context) -> DepthRun:
    """Check the active movie strip's job and start its worker; ``StartError`` (nothing started) if it cannot."""
    scene, strip = context.sequencer_scene, active_movie_strip(context)
    if strip is None:
        raise StartError("select a movie strip")
    if RUNS.running(scene.session_uid):
        raise StartError("a depth job of this scene is already running")
    python = preferences.worker_python(context, __package__)
    if python is None:
        raise StartError("set a Worker Python in the Depthshot preferences (or create its environment)")
    job = depth_job(context, strip)
    reason = jobs.check_job(job, context.preferences.addons[__package__].preferences.device)
    if reason is not None:
        raise StartError(reason)
    try:
        worker = WorkerProcess(python, job, cwd=worker_cwd(), env=worker_env(bpy.app.online_access))
    except OSError as exc:
        raise StartError(f"cannot start the worker {python}: {exc.strerror}") from None
    return DepthRun(scene, strip.name, worker)


class DEPTHSHOT_OT_estimate_depth(bpy.types.Operator):
    """Estimate consistent depth for the active movie strip in a worker process and add it as a muted image strip"""

    bl_idname = "depthshot.estimate_depth"
    bl_label = "Estimate Depth"

    synchronous: bpy.props.BoolProperty(
        name="Synchronous", description="Wait for the worker (background mode and scripts)", options={"SKIP_SAVE"}
    )

    @classmethod
    def poll(cls, context):
        return active_movie_strip(context) is not None and not RUNS.running(context.sequencer_scene.session_uid)

    def execute(self, context):
        try:
            run = start_depth_run(context)
        except StartError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return self._report(run.wait())

    def invoke(self, context, event):
        if self.synchronous or bpy.app.background:
            return self.execute(context)
        try:
            self._run = start_depth_run(context)
        except StartError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self._timer = context.window_manager.event_timer_add(TIMER_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type not in {"TIMER", "ESC"}:
            return {"PASS_THROUGH"}
        outcome = self._run.tick(cancel=event.type == "ESC")  # never raises: a failing tick ends the run
        if outcome.status == "running":
            return {"RUNNING_MODAL"}
        self._remove_timer(context)
        return self._report(outcome)

    def cancel(self, context):
        """Blender ends the operator (a file is loaded, the window closes): stop the worker, go idle."""
        self._run.abort()
        self._remove_timer(context)

    def _remove_timer(self, context) -> None:
        if getattr(self, "_timer", None) is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None

    def _report(self, outcome: Outcome) -> set[str]:
        level = {"finished": "INFO", "cancelled": "WARNING"}.get(outcome.status, "ERROR")
        self.report({level}, outcome.message)
        return {"FINISHED"} if outcome.status == "finished" else {"CANCELLED"}


class DEPTHSHOT_OT_cancel(bpy.types.Operator):
    """Stop the running depth worker (the same job resumes where it stopped)"""

    bl_idname = "depthshot.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return context.sequencer_scene is not None and RUNS.running(context.sequencer_scene.session_uid)

    def execute(self, context):
        RUNS.get(context.sequencer_scene.session_uid).cancel_requested = True
        return {"FINISHED"}


class DEPTHSHOT_OT_build_scene(bpy.types.Operator):
    """Build the chosen results (mesh, point cloud, stereo rig) from the active strip's depth pass"""

    bl_idname = "depthshot.build_scene"
    bl_label = "Build 3D"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        strip = active_movie_strip(context)
        return strip is not None and PASS_KEY in strip

    def execute(self, context):
        strip = active_movie_strip(context)
        settings = context.sequencer_scene.depthshot
        try:
            manifest = read_manifest(scene_build.pass_path(strip))
        except PassError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        objects = scene_build.build_scene(
            context.scene,
            strip,
            manifest,
            mesh=settings.build_mesh,
            points=settings.build_points,
            stereo=settings.build_stereo,
            resolution=(settings.grid_x, settings.grid_y),
        )
        self.report({"INFO"}, f"built {', '.join(o.name for o in objects)}")
        return {"FINISHED"}


class DEPTHSHOT_OT_render_stereo(bpy.types.Operator):
    """Render the strip's frames in stereo to a side-by-side video and add it to the Sequencer"""

    bl_idname = "depthshot.render_stereo"
    bl_label = "Render Stereo"

    @classmethod
    def poll(cls, context):
        strip = active_movie_strip(context)
        return strip is not None and context.scene.camera is not None

    def execute(self, context):
        scene, strip = context.scene, active_movie_strip(context)
        seq_scene = context.sequencer_scene
        folder = scene_build.pass_path(strip).parent if PASS_KEY in strip else Path(bpy.app.tempdir)
        output = folder / f"{Path(strip.get(PASS_KEY, strip.name)).name}-stereo-sbs.mp4"
        temp = output.with_name(f".{output.stem}.partial.mp4")
        render = scene.render
        with _temporarily(
            (scene, "frame_start", strip.frame_final_start),
            (scene, "frame_end", strip.frame_final_end - 1),
            (render, "use_sequencer", False),  # render the 3D scene, not the edit
            (render.image_settings, "media_type", "VIDEO"),
            (render.image_settings, "file_format", "FFMPEG"),
            (render.ffmpeg, "format", "MPEG4"),
            (render.ffmpeg, "codec", "H264"),
            (render, "use_file_extension", False),
            (render, "filepath", str(temp)),
            (render, "use_multiview", True),
            (render, "views_format", "STEREO_3D"),
            (render.image_settings, "views_format", "STEREO_3D"),
            (render.image_settings.stereo_3d_format, "display_mode", "SIDEBYSIDE"),
            (render.image_settings.stereo_3d_format, "use_sidebyside_crosseyed", False),
            (render.image_settings.stereo_3d_format, "use_squeezed_frame", False),
        ):
            # a stereo 3D movie carries the first view's suffix ("_L"); the file is renamed when complete
            written = Path(render.frame_path(frame=scene.frame_start, view="left"))
            try:
                bpy.ops.render.render(animation=True, scene=scene.name)
            except RuntimeError:
                written.unlink(missing_ok=True)
                raise
        if not written.is_file():
            self.report({"ERROR"}, f"the stereo render wrote no video ({written})")
            return {"CANCELLED"}
        os.replace(written, output)
        strips = seq_scene.sequence_editor.strips
        channel = max(s.channel for s in strips) + 1
        strips.new_movie(f"{strip.name} stereo", str(output), channel, strip.frame_final_start)
        self.report({"INFO"}, f"stereo video: {output}")
        return {"FINISHED"}


@contextmanager
def _temporarily(*changes: tuple[object, str, object]):
    """Set ``(owner, attribute, value)`` in order for the ``with`` block, then restore the old values in order."""
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in changes]
    try:
        for owner, name, value in changes:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


CLASSES = (DEPTHSHOT_OT_estimate_depth, DEPTHSHOT_OT_cancel, DEPTHSHOT_OT_build_scene, DEPTHSHOT_OT_render_stereo)
