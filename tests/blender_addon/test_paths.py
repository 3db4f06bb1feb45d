"""Paths the add-on stores are ``//``-relative once the .blend is saved: the project folder can move."""

import shutil

import bpy
import numpy as np



def test_a_moved_project_folder_still_builds(scene, clip, depth_pass, tmp_path, addon):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copyfile(clip, project / "clip.mp4")
    assert bpy.ops.wm.save_as_mainfile(filepath=str(project / "edit.blend")) == {"FINISHED"}
    shutil.copytree(depth_pass, project / "depthshot" / "clip.depth")
    scene = bpy.context.scene
    strip = scene.sequence_editor.strips.new_movie("clip", "//clip.mp4", 1, 1)  # as the file browser stores it
    scene.sequence_editor.active_strip = strip
    manifest = addon.pass_manifest.read_manifest(project / "depthshot" / "clip.depth")
    addon.scene_build.attach_pass(scene, strip, manifest)
    scene.depthshot.grid_x, scene.depthshot.grid_y = 8, 6
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    depth = scene.sequence_editor.strips["clip depth"]
    assert strip["depthshot_pass"] == "//depthshot/clip.depth"
    assert depth.directory.startswith("//depthshot/")
    assert all(i.filepath.startswith("//") for i in bpy.data.images)
    assert bpy.ops.wm.save_mainfile() == {"FINISHED"}

    moved = tmp_path / "moved"
    project.rename(moved)
    assert bpy.ops.wm.open_mainfile(filepath=str(moved / "edit.blend")) == {"FINISHED"}
    scene = bpy.context.scene
    bpy.context.workspace.sequencer_scene = scene
    strip = scene.sequence_editor.strips["clip"]
    scene.sequence_editor.active_strip = strip
    assert addon.scene_build.pass_path(strip) == moved / "depthshot" / "clip.depth"
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}  # the pass and the video are found where they are now
    scene.frame_set(2)
    obj = scene.objects["clip mesh"]
    geometry = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).evaluated_geometry()
    co = np.empty(len(geometry.mesh.vertices) * 3, np.float32)
    geometry.mesh.vertices.foreach_get("co", co)
    assert len(co) == 8 * 6 * 3
    assert np.ptp(co.reshape(-1, 3)[:, 2]) > 0.5  # the depth ramp: the image sequence loads from its relative path
