"""Export Geometry: the rig's evaluated mesh per frame as PLY files (read back with trimesh) or one Alembic file
(imported back into Blender), in world space, written complete or not at all."""

import bpy
import numpy as np
import pytest
import trimesh

from .conftest import N


def world_vertices(obj) -> np.ndarray:
    geometry = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).evaluated_geometry()
    co = np.empty(len(geometry.mesh.vertices) * 3, np.float32)
    geometry.mesh.vertices.foreach_get("co", co)
    m = np.array(obj.matrix_world)
    pts = co.reshape(-1, 3)
    return pts @ m[:3, :3].T + m[:3, 3]


def rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


def test_ply_sequence_holds_each_frames_geometry(built, addon):
    obj = built.objects["clip mesh"]
    built.camera.location = (1.0, 2.0, 3.0)  # world space, not the camera's
    assert bpy.ops.depthshot.export_geometry(format="PLY") == {"FINISHED"}
    strip = built.sequence_editor.active_strip
    folder = addon.export.output_path(strip, "mesh", "PLY")
    files = sorted(folder.glob("*.ply"))
    assert [f.name for f in files] == [f"{i:06d}.ply" for i in range(N)]
    assert not any(p.name.startswith(".") for p in folder.parent.iterdir())  # no temporary leftovers
    for i in (0, 4):
        built.frame_set(strip.frame_final_start + i)
        mesh = trimesh.load(files[i], process=False)
        np.testing.assert_allclose(rows(np.asarray(mesh.vertices)), rows(world_vertices(obj)), atol=1e-4)
    assert not np.allclose(trimesh.load(files[0], process=False).vertices,
                           trimesh.load(files[4], process=False).vertices)


def test_alembic_is_one_animated_file(built, addon, tmp_path):
    assert bpy.ops.depthshot.export_geometry(format="ABC") == {"FINISHED"}
    strip = built.sequence_editor.active_strip
    path = addon.export.output_path(strip, "mesh", "ABC")
    assert path.is_file() and path.stat().st_size > 0
    built.frame_set(3)
    expected = world_vertices(built.objects["clip mesh"])
    bpy.ops.wm.read_homefile(use_empty=True)
    assert bpy.ops.wm.alembic_import(filepath=str(path), as_background_job=False) == {"FINISHED"}
    scene = bpy.context.scene
    imported = next(o for o in scene.objects if o.type == "MESH")
    scene.frame_set(3)
    got = world_vertices(imported)
    assert got.shape == expected.shape
    np.testing.assert_allclose(rows(got), rows(expected), atol=1e-3)


def test_export_without_geometry_says_what_to_do(scene, clip, depth_pass, addon):
    from .conftest import strip_ready_to_build

    strip_ready_to_build(scene, clip, depth_pass)
    scene.depthshot.build_mesh = scene.depthshot.build_points = False
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}  # the stereo rig only
    with pytest.raises(RuntimeError, match="no mesh or point cloud"):
        bpy.ops.depthshot.export_geometry(format="PLY")
