"""The Sequencer sidebar panel (region UI, tab "Depthshot")."""

from __future__ import annotations

import bpy

from . import operators, scene_build
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
        col.prop(settings, "max_res")
        run = RUNS.get(scene.session_uid)
        if run.running:
            layout.progress(factor=run.progress / 100.0, text=run.text)
            layout.operator(operators.DEPTHSHOT_OT_cancel.bl_idname, icon="CANCEL")
        else:
            row = layout.row(align=True)
            row.operator(operators.DEPTHSHOT_OT_estimate_depth.bl_idname, icon="PLAY")
            row.operator(operators.DEPTHSHOT_OT_load_depth_pass.bl_idname, icon="FILEBROWSER")
            row = layout.row(align=True)
            row.operator(operators.DEPTHSHOT_OT_preview_depth.bl_idname, icon="HIDE_OFF")
            row.prop(settings, "preview_size", text="Size")
            row.prop(settings, "preview_frames", text="Frames")
            if run.text:
                layout.label(text=run.text)
        attached = strip.get(scene_build.PASS_KEY) if strip else None
        layout.label(text=f"Pass: {attached}" if attached else "No depth pass yet", icon="IMAGE_ZDEPTH")
        box = layout.box()
        box.label(text="Results")
        box.prop(settings, "build_mesh")
        box.prop(settings, "build_points")
        box.prop(settings, "build_stereo")
        box.prop(settings, "world_space")
        row = box.row(align=True)
        row.operator(operators.DEPTHSHOT_OT_estimate_poses.bl_idname, icon="CAMERA_DATA")
        row.operator(operators.DEPTHSHOT_OT_import_poses.bl_idname, icon="FILEBROWSER")
        row = box.row(align=True)
        row.prop(settings, "grid_x")
        row.prop(settings, "grid_y")
        box.prop(settings, "edge_angle")
        row = box.row(align=True)
        row.prop(settings, "near")
        row.prop(settings, "far")
        row = box.row(align=True)
        row.prop(settings, "metric_scale")
        row.prop(settings, "fov")
        box.operator(operators.DEPTHSHOT_OT_build_scene.bl_idname, icon="MESH_GRID")
        row = box.row(align=True)
        row.operator(operators.DEPTHSHOT_OT_fused_mesh.bl_idname, icon="MESH_DATA")
        row.prop(settings, "fused_voxel", text="Voxel")
        box.operator(operators.DEPTHSHOT_OT_render_stereo.bl_idname, icon="CAMERA_STEREO")
        row = box.row(align=True)
        row.operator(operators.DEPTHSHOT_OT_export_geometry.bl_idname, text="Export PLY", icon="EXPORT").format = "PLY"
        row.operator(operators.DEPTHSHOT_OT_export_geometry.bl_idname, text="Export Alembic").format = "ABC"


CLASSES = (DEPTHSHOT_PT_panel,)
