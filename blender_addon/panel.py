"""The Sequencer sidebar panel (region UI, tab "Depthshot")."""

from __future__ import annotations

import bpy

from . import operators
from .run_state import RUNS


class DEPTHSHOT_PT_panel(bpy.types.Panel):
    bl_label = "Depthshot"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Depthshot"

    def draw(self, context):
        layout = self.layout
        scene = context.sequencer_scene
        if scene is None:
            layout.label(text="No sequencer scene")
            return
        settings = scene.depthshot
        strip = operators.active_movie_strip(context)
        layout.label(text=strip.name if strip else "Select a movie strip", icon="FILE_MOVIE")
        col = layout.column()
        col.prop(settings, "model")
        col.prop(settings, "weights")
        col.prop(settings, "precision")
        col.prop(settings, "input_size")
        col.prop(settings, "shots")
        run = RUNS.get(scene.session_uid)
        if run.running:
            layout.progress(factor=run.progress / 100.0, text=run.text)
            layout.operator(operators.DEPTHSHOT_OT_cancel.bl_idname, icon="CANCEL")
        else:
            layout.operator(operators.DEPTHSHOT_OT_estimate_depth.bl_idname, icon="PLAY")
            if run.text:
                layout.label(text=run.text)
        box = layout.box()
        box.label(text="Results")
        box.prop(settings, "build_mesh")
        box.prop(settings, "build_points")
        box.prop(settings, "build_stereo")
        row = box.row(align=True)
        row.prop(settings, "grid_x")
        row.prop(settings, "grid_y")
        box.operator(operators.DEPTHSHOT_OT_build_scene.bl_idname, icon="MESH_GRID")
        box.operator(operators.DEPTHSHOT_OT_render_stereo.bl_idname, icon="CAMERA_STEREO")


CLASSES = (DEPTHSHOT_PT_panel,)
