"""Render Stereo: the strip's frames through its rig's camera, side by side, into an H.264 file beside the pass.

In the UI the render runs as Blender's own render job (``INVOKE_DEFAULT``): Blender stays responsive, the job shows
its progress, and Esc cancels it. Render settings are set for the job and restored when it completes or is
cancelled (``render_complete``/``render_cancel`` handlers); the video is written to a temporary name and renamed
only once complete, then added to the Sequencer as the strip's one stereo strip (replaced in place).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import bpy

from . import scene_build

log = logging.getLogger(__name__)


def stereo_strip_name(source: bpy.types.Strip) -> str:
    """The name of ``source``'s stereo strip."""
    return f"{source.name} stereo"


def output_path(source: bpy.types.Strip) -> Path:
    """``<pass>-stereo-sbs.mp4`` beside the strip's pass (``//depthshot/``, or the add-on's user folder)."""
    folder = scene_build.pass_path(source)
    return folder.parent / f"{folder.name}-stereo-sbs.mp4"


def fps_warning(scene: bpy.types.Scene, source: bpy.types.Strip) -> str | None:
    """A warning when the scene's frame rate differs from the strip's (the video gets the scene's)."""
    scene_fps = scene.render.fps / scene.render.fps_base
    if source.fps > 0 and abs(scene_fps - source.fps) > 1e-3:
        return (f"the scene runs at {scene_fps:g} fps, the strip at {source.fps:g} fps: the stereo video is "
                f"{scene_fps:g} fps (set the scene's frame rate to the strip's to keep its timing)")
    return None


def _settings(scene: bpy.types.Scene, source: bpy.types.Strip, temp: Path) -> list[tuple[object, str, object]]:
    render = scene.render
    image = render.image_settings
    view = scene.view_settings
    return [
        (scene, "frame_start", source.frame_final_start),
        (scene, "frame_end", source.frame_final_end - 1),
        (render, "use_sequencer", False),  # render the 3D scene, not the edit
        (render, "use_compositing", False),
        (image, "media_type", "VIDEO"),
        (image, "file_format", "FFMPEG"),
        (render.ffmpeg, "format", "MPEG4"),
        (render.ffmpeg, "codec", "H264"),
        (render, "use_file_extension", False),
        (render, "filepath", str(temp)),
        (render, "use_multiview", True),
        (render, "views_format", "STEREO_3D"),
        (image, "views_format", "STEREO_3D"),
        (image.stereo_3d_format, "display_mode", "SIDEBYSIDE"),
        (image.stereo_3d_format, "use_sidebyside_crosseyed", False),
        (image.stereo_3d_format, "use_squeezed_frame", False),
        # footage: the movie's colours as they are, not through a filmic curve
        (view, "view_transform", "Standard"),
        (view, "look", "None"),
        (view, "exposure", 0.0),
        (view, "gamma", 1.0),
    ]


class StereoRender:
    """One Render Stereo job of ``source`` (a movie strip of ``seq_scene``) rendering ``scene`` through its rig."""

    def __init__(self, scene: bpy.types.Scene, seq_scene: bpy.types.Scene, source: bpy.types.Strip, camera):
        self.scene_name, self.seq_scene_name, self.strip_name = scene.name, seq_scene.name, source.name
        self.output = output_path(source)
        self.temp = self.output.with_name(f".{self.output.stem}.partial.mp4")
        self._camera = camera
        self._saved: list[tuple[object, str, object]] = []
        self.finished = False
        self.error: str | None = None

    def _apply(self) -> Path:
        scene = bpy.data.scenes[self.scene_name]
        source = bpy.data.scenes[self.seq_scene_name].sequence_editor.strips[self.strip_name]
        changes = [(scene, "camera", self._camera), *_settings(scene, source, self.temp)]
        self._saved = [(owner, name, getattr(owner, name)) for owner, name, _ in changes]
        for owner, name, value in changes:
            setattr(owner, name, value)
        # a stereo 3D movie carries the first view's suffix ("_L"); the file is renamed when complete
        return Path(scene.render.frame_path(frame=scene.frame_start, view="left"))

    def _restore(self) -> None:
        for owner, name, value in self._saved:  # in order: the media type before the file format it allows
            setattr(owner, name, value)
        self._saved = []

    def run(self, invoke: bool) -> None:
        """Start the render: as Blender's render job (``invoke``, returns at once) or to the end (scripts)."""
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self._written = self._apply()
        if not invoke:
            try:
                bpy.ops.render.render(animation=True, scene=self.scene_name)
            except Exception as exc:
                self._end(complete=False, reason=str(exc).strip() or type(exc).__name__)
                raise
            self._end(complete=True)
            return
        bpy.app.handlers.render_complete.append(self._on_complete)
        bpy.app.handlers.render_cancel.append(self._on_cancel)
        try:
            result = bpy.ops.render.render("INVOKE_DEFAULT", animation=True, scene=self.scene_name)
        except Exception as exc:
            self._end(complete=False, reason=str(exc).strip())
            raise
        if "RUNNING_MODAL" not in result and "FINISHED" not in result:
            self._end(complete=False, reason="the render did not start")

    def _on_complete(self, *_args) -> None:
        self._end(complete=True)

    def _on_cancel(self, *_args) -> None:
        self._end(complete=False, reason="cancelled")

    def _end(self, complete: bool, reason: str = "") -> None:
        """Restore the settings; keep the finished video and add its strip, or remove the partial one."""
        if self.finished:
            return
        self.finished = True
        for handlers, handler in ((bpy.app.handlers.render_complete, self._on_complete),
                                  (bpy.app.handlers.render_cancel, self._on_cancel)):
            if handler in handlers:
                handlers.remove(handler)
        self._restore()
        if not complete or not self._written.is_file():
            self._written.unlink(missing_ok=True)
            self.error = reason or f"the stereo render wrote no video ({self._written})"
            log.warning("Render Stereo: %s", self.error)
            return
        os.replace(self._written, self.output)
        seq_scene = bpy.data.scenes[self.seq_scene_name]
        source = seq_scene.sequence_editor.strips.get(self.strip_name)
        if source is not None:
            add_stereo_strip(seq_scene, source, self.output)


def add_stereo_strip(scene: bpy.types.Scene, source: bpy.types.Strip, video: Path) -> bpy.types.Strip:
    """The stereo video as ``source``'s one stereo strip, in the first free channel above it (or where the old one
    was), starting with it."""
    strips = scene.sequence_editor.strips
    name = stereo_strip_name(source)
    old = strips.get(name)
    if old is not None:
        channel = old.channel
        strips.remove(old)
    else:
        channel = max(s.channel for s in strips) + 1
    return strips.new_movie(name, scene_build.stored_path(video), channel, source.frame_final_start)
