"""Operators: estimate depth for the active movie strip (worker process), build the 3D scene, render stereo."""

from __future__ import annotations

import hashlib
import os
import re
from contextlib import contextmanager
from pathlib import Path

import bpy

from . import preferences, scene_build
from .depth_run import PASS_KEY, DepthRun, Outcome
from .pass_manifest import PassError, read_manifest
from .worker_process import WorkerProcess

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
    return (
        (strip.frame_final_start - strip.frame_start) / fps,
        (strip.frame_final_end - strip.frame_start) / fps,
    )


def pass_folder(strip: bpy.types.Strip, model: str, start: float, end: float) -> Path:
    """Where the strip's depth pass goes: ``//depthshot/`` beside a saved .blend, else the add-on's user folder."""
    key = f"{bpy.path.abspath(strip.filepath)}|{model}|{start:.6f}|{end:.6f}"
    name = f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', strip.name)}-{model}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    if bpy.data.filepath:
        return Path(bpy.path.abspath("//depthshot")) / name
    return Path(bpy.utils.extension_path_user(__package__, path="passes", create=True)) / name


def _job(context, strip) -> dict:
    settings = context.sequencer_scene.depthshot
    prefs = context.preferences.addons[__package__].preferences
    start, end = strip_time_range(strip)
    job = {
        "input": bpy.path.abspath(strip.filepath),
        "output": str(pass_folder(strip, settings.model, start, end)),
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
    return job


class StartError(Exception):
    """The depth job cannot start (no worker interpreter, or it does not run)."""


def start_depth_run(context: bpy.types.Context) -> DepthRun:
    """Start the worker for the active movie strip's job (or reuse its finished pass); ``StartError`` if it cannot."""
    scene, strip = context.sequencer_scene, active_movie_strip(context)
    python = preferences.worker_python(context, __package__)
    if python is None:
        raise StartError("set a Worker Python in the Depthshot preferences (or create its environment)")
    job = _job(context, strip)
    output = Path(job["output"])
    if (output / "depth_pass.json").is_file():
        return DepthRun(scene.name, strip.name, None, output)
    try:
        worker = WorkerProcess(python, job)
    except OSError as exc:
        raise StartError(f"cannot start the worker {python}: {exc.strerror}") from None
    return DepthRun(scene.name, strip.name, worker)


class DEPTHSHOT_OT_estimate_depth(bpy.types.Operator):
    """Estimate consistent depth for the active movie strip in a worker process and add it as an image strip"""

    bl_idname = "depthshot.estimate_depth"
    bl_label = "Estimate Depth"

    synchronous: bpy.props.BoolProperty(
        name="Synchronous", description="Wait for the worker (background mode and scripts)", options={"SKIP_SAVE"}
    )

    @classmethod
    def poll(cls, context):
        return active_movie_strip(context) is not None and not context.sequencer_scene.depthshot.running

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
        outcome = self._run.tick(cancel=event.type == "ESC")
        if outcome.status == "running":
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        return self._report(outcome)

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
        return context.sequencer_scene is not None and context.sequencer_scene.depthshot.running

    def execute(self, context):
        context.sequencer_scene.depthshot.cancel_requested = True
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
            manifest = read_manifest(strip[PASS_KEY])
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
        folder = Path(strip[PASS_KEY]).parent if PASS_KEY in strip else Path(bpy.app.tempdir)
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
