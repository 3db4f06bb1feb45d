"""Operators: estimate depth for the active movie strip (worker process), build the 3D scene, render stereo."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import bpy

from . import jobs, preferences, scene_build, stereo_render
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


@contextmanager
def _removed_if_failing():
    """Whatever Blender data the block creates is removed again if it raises: nothing is left half-made."""
    kinds = ("collections", "objects", "meshes", "materials", "cameras", "images", "node_groups")
    before = {kind: set(getattr(bpy.data, kind)) for kind in kinds}
    try:
        yield
    except Exception:
        for kind in kinds:
            collection = getattr(bpy.data, kind)
            for item in [i for i in collection if i not in before[kind]]:
                collection.remove(item)
        raise


class DEPTHSHOT_OT_build_scene(bpy.types.Operator):
    """Build or update the active strip's rig: its camera and the chosen results (mesh, point cloud, stereo output)"""

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
        if not (settings.build_mesh or settings.build_points or settings.build_stereo):
            self.report({"ERROR"}, "tick at least one result (Displaced Mesh, Point Cloud or Stereo Rig)")
            return {"CANCELLED"}
        try:
            manifest = read_manifest(scene_build.pass_path(strip))
        except PassError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        reason = scene_build.build_check(strip, manifest)
        if reason is not None:
            self.report({"ERROR"}, reason)
            return {"CANCELLED"}
        with _removed_if_failing():
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
    """Render the strip's frames through its rig in stereo to a side-by-side video and add it to the Sequencer"""

    bl_idname = "depthshot.render_stereo"
    bl_label = "Render Stereo"

    @classmethod
    def poll(cls, context):
        strip = active_movie_strip(context)
        return strip is not None and PASS_KEY in strip and scene_build.find_rig(context.scene, strip) is not None

    def execute(self, context):
        return self._start(context, invoke=False)

    def invoke(self, context, event):
        return self._start(context, invoke=not bpy.app.background)

    def _start(self, context, invoke: bool) -> set[str]:
        scene, strip = context.scene, active_movie_strip(context)
        camera = scene_build.rig_object(scene_build.find_rig(scene, strip), "camera")
        if camera is None:
            self.report({"ERROR"}, f"the rig of {strip.name!r} has no camera: press Build 3D")
            return {"CANCELLED"}
        job = stereo_render.StereoRender(scene, context.sequencer_scene, strip, camera)
        if not jobs.writable_folder(job.output.parent):
            self.report({"ERROR"}, f"cannot write the stereo video into {job.output.parent}")
            return {"CANCELLED"}
        warning = stereo_render.fps_warning(scene, strip)
        if warning:
            self.report({"WARNING"}, warning)
        try:
            job.run(invoke)
        except Exception as exc:  # the render itself failed (e.g. the disk filled up); settings are restored
            self.report({"ERROR"}, f"Render Stereo failed: {job.error or exc}")
            return {"CANCELLED"}
        if invoke:
            self.report({"INFO"}, f"rendering {job.output.name} (Esc cancels)")
            return {"FINISHED"}
        if job.error:
            self.report({"ERROR"}, f"Render Stereo failed: {job.error}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"stereo video: {job.output}")
        return {"FINISHED"}


CLASSES = (DEPTHSHOT_OT_estimate_depth, DEPTHSHOT_OT_cancel, DEPTHSHOT_OT_build_scene, DEPTHSHOT_OT_render_stereo)
