"""Export the rig's built geometry: a PLY per frame (a folder) or one animated Alembic file, beside the pass.

Both go through Blender's own exporters with modifiers applied (the evaluated depth surface of each frame), in world
space. The output appears only once complete: PLY frames are written into a temporary folder that is renamed at the
end, the Alembic file under a temporary name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import bpy

from . import scene_build

FORMATS = ("PLY", "ABC")


def output_path(source: bpy.types.Strip, role: str, fmt: str) -> Path:
    """``<pass>-<role>-ply/`` (a folder) or ``<pass>-<role>.abc`` beside the strip's pass."""
    folder = scene_build.pass_path(source)
    return folder.parent / (f"{folder.name}-{role}-ply" if fmt == "PLY" else f"{folder.name}-{role}.abc")


def _only_selected(scene: bpy.types.Scene, obj: bpy.types.Object):
    """Select ``obj`` alone; returns the previous selection and active object, for ``_restore``."""
    layer = scene.view_layers[0]
    saved = ([o for o in scene.objects if o.select_get(view_layer=layer)], layer.objects.active)
    for o in saved[0]:
        o.select_set(False, view_layer=layer)
    obj.select_set(True, view_layer=layer)
    layer.objects.active = obj
    return layer, saved


def _restore(layer, saved) -> None:
    for o in layer.objects:
        o.select_set(o in saved[0], view_layer=layer)
    layer.objects.active = saved[1]


def export_geometry(scene: bpy.types.Scene, source: bpy.types.Strip, obj: bpy.types.Object, role: str,
                    fmt: str) -> Path:
    """Write ``obj``'s evaluated geometry over the strip's frames as ``fmt``; returns the output path."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    out = output_path(source, role, fmt)
    temp = out.with_name(f".{out.name}.partial")
    frames = range(source.frame_final_start, source.frame_final_end)
    current = scene.frame_current
    layer, saved = _only_selected(scene, obj)
    try:
        if fmt == "PLY":
            shutil.rmtree(temp, ignore_errors=True)
            temp.mkdir(parents=True)
            for i, frame in enumerate(frames):
                scene.frame_set(frame)
                bpy.ops.wm.ply_export(filepath=str(temp / f"{i:06d}.ply"), export_selected_objects=True,
                                      apply_modifiers=True, export_uv=True, export_normals=False)
            old = out.with_name(f".{out.name}.old")
            if out.exists():
                out.rename(old)
            temp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            temp = temp.with_suffix(".abc")
            bpy.ops.wm.alembic_export(filepath=str(temp), start=frames.start, end=frames.stop - 1, selected=True,
                                      uvs=True, as_background_job=False, evaluation_mode="RENDER")
            os.replace(temp, out)
    except Exception:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)
        raise
    finally:
        _restore(layer, saved)
        scene.frame_set(current)
    return out
