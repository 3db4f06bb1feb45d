"""Add-on preferences: which Python runs the worker, and an optional worker environment in the user folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bpy

VENV_DIR = "worker-venv"


def venv_python(package: str) -> Path:
    """The interpreter of the worker environment the add-on creates (it may not exist yet)."""
    root = Path(bpy.utils.extension_path_user(package, path=VENV_DIR))
    return root / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def worker_python(context: bpy.types.Context, package: str) -> str | None:
    """The interpreter to run ``python -m core.worker`` with: the preference, else the created environment."""
    prefs = context.preferences.addons[package].preferences
    if prefs.python_path:
        return bpy.path.abspath(prefs.python_path)
    python = venv_python(package)
    return str(python) if python.is_file() else None


class DEPTHSHOT_OT_create_worker_env(bpy.types.Operator):
    """Create a Python environment for the depth worker in the add-on's user folder and pip-install depthshot"""

    bl_idname = "depthshot.create_worker_env"
    bl_label = "Create Worker Environment"

    @classmethod
    def poll(cls, context):
        return bpy.app.online_access

    def execute(self, context):
        package = __package__
        prefs = context.preferences.addons[package].preferences
        root = Path(bpy.utils.extension_path_user(package, path=VENV_DIR, create=True))
        python = venv_python(package)
        for command in ([sys.executable, "-m", "venv", str(root)], [str(python), "-m", "pip", "install", prefs.pip_spec]):
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
                self.report({"ERROR"}, f"{' '.join(command[:3])} failed: {tail[0]}")
                return {"CANCELLED"}
        self.report({"INFO"}, f"worker environment ready: {python}")
        return {"FINISHED"}


class DepthshotPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    python_path: bpy.props.StringProperty(
        name="Worker Python",
        description="Python interpreter with depthshot installed (empty: the environment created below)",
        subtype="FILE_PATH",
    )
    pip_spec: bpy.props.StringProperty(
        name="Package",
        description="What pip installs into the worker environment (a name, a wheel or a source folder)",
        default="depthshot",
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
        if not bpy.app.online_access:
            layout.label(text="Online access is off: set a Worker Python instead", icon="INFO")


CLASSES = (DEPTHSHOT_OT_create_worker_env, DepthshotPreferences)
