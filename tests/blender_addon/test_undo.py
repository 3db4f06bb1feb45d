"""Build 3D is one undo step: background Blender keeps a real (memfile) undo stack, so ed.undo/ed.redo run headless."""

import bpy

from .conftest import strip_ready_to_build


def _state() -> dict:
    scene = bpy.context.scene
    return {
        "objects": sorted(o.name for o in bpy.data.objects),
        "collections": sorted(c.name for c in bpy.data.collections),
        "node_groups": len(bpy.data.node_groups),
        "materials": len(bpy.data.materials),
        "camera": scene.camera.name if scene.camera else None,
        "multiview": scene.render.use_multiview,
        "resolution": (scene.render.resolution_x, scene.render.resolution_y),
        "strips": sorted((s.name, s.get("depthshot_pass")) for s in scene.sequence_editor.strips),
    }


def test_build_scene_is_one_undo_step(scene, clip, depth_pass, addon):
    strip_ready_to_build(scene, clip, depth_pass)
    assert bpy.ops.ed.undo_push(message="strip with a depth pass") == {"FINISHED"}
    before = _state()

    # as a button press runs it: with undo (Python calls skip the undo push unless asked); "UNDO" in bl_options
    # makes the operator push its own step when it finishes
    assert bpy.ops.depthshot.build_scene("EXEC_DEFAULT", True) == {"FINISHED"}
    after = _state()
    assert {"clip camera", "clip mesh", "clip points"} <= set(after["objects"])
    assert after != before

    assert bpy.ops.ed.undo() == {"FINISHED"}
    assert _state() == before  # one undo removes everything Build 3D made, and nothing else
    assert bpy.ops.ed.redo() == {"FINISHED"}
    assert _state() == after
