"""Add-on preferences: which Python runs the worker, and an optional worker environment in the user folder."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import bpy

from . import worker_env
from .run_state import ENV

VENV_DIR = "worker-venv"
TIMER_S = 0.5


def venv_python(package: str) -> Path:
    """The interpreter of the worker environment the add-on creates (it may not exist yet)."""
    return worker_env.env_python(Path(bpy.utils.extension_path_user(package, path=VENV_DIR)))


def worker_python(context: bpy.types.Context, package: str) -> str | None:
    """The interpreter to run ``python -m core.worker`` with: the preference, else the created environment."""
    prefs = context.preferences.addons[package].preferences
    if prefs.python_path:
        return bpy.path.abspath(prefs.python_path)
    python = venv_python(package)
    return str(python) if python.is_file() else None


class DEPTHSHOT_OT_create_worker_env(bpy.types.Operator):
    """Create a Python environment for the depth worker in the add-on's user folder and install the depthshot that
    matches this add-on into it, with torch pinned (runs in the background; Esc cancels)"""

    bl_idname = "depthshot.create_worker_env"
    bl_label = "Create Worker Environment"

    @classmethod
    def poll(cls, context):
        return bpy.app.online_access and ENV.job is None

    def _job(self, context) -> worker_env.EnvJob | None:
        package = __package__
        prefs = context.preferences.addons[package].preferences
        version = worker_env.addon_version(Path(__file__).with_name("blender_manifest.toml"))
        try:
            spec = worker_env.package_spec(bpy.path.abspath(prefs.pip_spec) if prefs.pip_spec else "", version)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        root = Path(bpy.utils.extension_path_user(package, path=VENV_DIR, create=True))
        return worker_env.EnvJob(worker_env.plan(sys.executable, root, spec))

    def execute(self, context):  # scripts and background mode: to the end
        job = self._job(context)
        if job is None:
            return {"CANCELLED"}
        ENV.job = job
        try:
            while not job.poll().finished:
                time.sleep(0.1)
        finally:
            ENV.job = None
        return self._report(job.state)

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        job = self._job(context)
        if job is None:
            return {"CANCELLED"}
        ENV.job, ENV.text = job, job.state.describe()
        self._timer = context.window_manager.event_timer_add(TIMER_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            ENV.job.cancel()
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = ENV.job.poll()
        ENV.text = state.describe()
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()
        if not state.finished:
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        ENV.job = None
        return self._report(state)

    def cancel(self, context):
        if ENV.job is not None:
            ENV.job.cancel()
            ENV.job = None
        context.window_manager.event_timer_remove(self._timer)

    def _report(self, state: worker_env.EnvState) -> set[str]:
        ENV.text = state.describe()
        if state.finished and state.error is None and not state.cancelled:
            self.report({"INFO"}, f"worker environment ready: {venv_python(__package__)}")
            return {"FINISHED"}
        self.report({"WARNING" if state.cancelled else "ERROR"}, f"worker environment: {state.describe()}")
        return {"CANCELLED"}


class DepthshotPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    python_path: bpy.props.StringProperty(
        name="Worker Python",
        description="Python interpreter with depthshot installed (empty: the environment created below)",
        subtype="FILE_PATH",
    )
    pip_spec: bpy.props.StringProperty(
        name="Depthshot Package",
        description="A depthshot wheel (.whl) or source checkout to install; empty: depthshot of this add-on's "
        "version from PyPI",
        subtype="FILE_PATH",
    )
    device: bpy.props.EnumProperty(
        name="Device",
        items=[("auto", "Auto", "CUDA when available, else CPU"), ("cuda", "CUDA", ""), ("cpu", "CPU", "")],
        default="auto",
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "python_path")
        layout.prop(self, "device")
        row = layout.row()
        row.prop(self, "pip_spec")
        row.operator(DEPTHSHOT_OT_create_worker_env.bl_idname)
        if ENV.text:
            layout.label(text=ENV.text, icon="TIME" if ENV.job is not None else "INFO")
        if not bpy.app.online_access:
            layout.label(text="Online access is off: set a Worker Python instead", icon="INFO")


CLASSES = (DEPTHSHOT_OT_create_worker_env, DepthshotPreferences)
