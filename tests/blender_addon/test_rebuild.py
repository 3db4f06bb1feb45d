"""Build 3D and friends are idempotent, change only what was asked, check before building and leave nothing
half-made; a new rig goes where nothing hides its view."""

import shutil

import bpy
import numpy as np
import pytest

from .conftest import GRID, H, W, strip_ready_to_build


def census() -> dict:
    """How many of each kind of data block the file holds."""
    kinds = ("collections", "objects", "meshes", "materials", "cameras", "images", "node_groups")
    return {kind: len(getattr(bpy.data, kind)) for kind in kinds}


def test_build_twice_is_one_rig_updated_in_place(scene, clip, depth_pass, addon):
    strip = strip_ready_to_build(scene, clip, depth_pass)
    scene.depthshot.build_points = False
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    first = census()
    camera = scene.camera
    scene.depthshot.build_points = True  # the user ticks Point Cloud and builds again
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    after = census()
    assert after["collections"] == first["collections"] and after["cameras"] == first["cameras"]
    assert after["materials"] == first["materials"] and after["node_groups"] == first["node_groups"]
    assert after["objects"] == first["objects"] + 1 and after["meshes"] == first["meshes"] + 1  # the points only
    rig = addon.scene_build.find_rig(scene, strip)
    assert sorted(o.name for o in rig.objects) == ["clip camera", "clip mesh", "clip points"]
    assert scene.camera == camera


def test_a_moved_rig_stays_where_the_user_put_it(built, addon):
    camera = built.camera
    camera.location = (3.0, -2.0, 1.0)
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    assert tuple(camera.location) == pytest.approx((3.0, -2.0, 1.0))


def test_estimate_and_render_strips_are_one_per_source(built, addon):
    strip = built.sequence_editor.active_strip
    manifest = addon.pass_manifest.read_manifest(strip["depthshot_pass"])
    for _ in range(2):
        addon.scene_build.attach_pass(built, strip, manifest)
    depth = [s for s in built.sequence_editor.strips if s.type == "IMAGE"]
    assert [s.name for s in depth] == ["clip depth"] and depth[0].mute
    for _ in range(2):
        addon.stereo_render.add_stereo_strip(built, strip, addon.stereo_render.output_path(strip))
    assert sorted(s.name for s in built.sequence_editor.strips) == ["clip", "clip depth", "clip stereo"]


def test_only_what_was_asked_changes(scene, clip, depth_pass, addon):
    strip_ready_to_build(scene, clip, depth_pass)
    settings = scene.depthshot
    settings.build_points = settings.build_stereo = False
    render = scene.render
    before = (scene.camera, render.resolution_x, render.resolution_y, render.use_multiview)
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}  # a mesh only
    assert (scene.camera, render.resolution_x, render.resolution_y, render.use_multiview) == before
    settings.build_mesh = False
    with pytest.raises(RuntimeError, match="tick at least one result"):
        bpy.ops.depthshot.build_scene()
    settings.build_stereo = True
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    assert scene.camera.name == "clip camera" and render.use_multiview
    assert (render.resolution_x, render.resolution_y) == (W, H)


@pytest.mark.parametrize("damage", ["video moved", "depth frame missing"])
def test_build_checks_first_and_makes_nothing(scene, clip, depth_pass, tmp_path, addon, damage):
    video = tmp_path / "clip.mp4"
    shutil.copyfile(clip, video)
    pass_copy = tmp_path / "clip.depth"
    shutil.copytree(depth_pass, pass_copy)
    strip_ready_to_build(scene, video, pass_copy)
    if damage == "video moved":
        video.rename(tmp_path / "elsewhere.mp4")
        reason = "the strip's video is missing"
    else:
        (pass_copy / "depth" / "000003.png").unlink()
        reason = "lacks 1 of its 6 frames (first: 000003.png)"
    before = census()
    with pytest.raises(RuntimeError, match=reason.replace("(", r"\(").replace(")", r"\)")) as info:
        bpy.ops.depthshot.build_scene()
    assert "Traceback" not in str(info.value) and str(info.value).count("\n") <= 1
    assert census() == before


def test_a_failing_build_leaves_nothing_half_made(scene, clip, depth_pass, addon, monkeypatch):
    strip_ready_to_build(scene, clip, depth_pass)
    before = census()

    def broken(*_args, **_kwargs):
        raise RuntimeError("node group failed (simulated)")

    monkeypatch.setattr(addon.geometry_nodes, "set_inputs", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        bpy.ops.depthshot.build_scene()
    assert census() == before


def test_in_the_default_startup_file_the_rig_sees_past_the_cube(addon, clip, depth_pass, tmp_path):
    bpy.ops.wm.read_homefile(use_factory_startup=True)  # Cube, Light, Camera at their default places
    scene = bpy.context.scene
    bpy.context.workspace.sequencer_scene = scene
    scene.sequence_editor_create()
    strip_ready_to_build(scene, clip, depth_pass)
    cube = scene.objects["Cube"]
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    camera = scene.camera
    assert camera.name == "clip camera"
    assert camera.location.x > max((cube.matrix_world @ v.co).x for v in cube.data.vertices)
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "FLAT"
    scene.display.shading.color_type = "TEXTURE"
    scene.render.use_sequencer = False
    scene.render.use_multiview = False
    scene.render.filepath = str(tmp_path / "view.png")
    scene.frame_set(2)
    bpy.ops.render.render(write_still=True)
    pixels = np.array(bpy.data.images.load(str(tmp_path / "view.png")).pixels[:], np.float32)
    image = pixels.reshape(H, W, 4)[..., :3]
    assert image.std() > 0.05  # the footage, not the inside of a grey cube
    assert image[:, : W // 8].mean() < 0.3 and image[:, -W // 4 :].max() > 0.6  # dark left band, bright colour


def test_near_far_and_fov_controls_shape_the_rig(scene, clip, depth_pass, addon):
    import math

    strip_ready_to_build(scene, clip, depth_pass)
    settings = scene.depthshot
    settings.build_points = False
    settings.near, settings.far, settings.fov = 2.0, 8.0, 90.0
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    assert math.degrees(scene.camera.data.angle_x) == pytest.approx(90.0, abs=1e-4)
    scene.frame_set(3)  # pass frame 2: the shot's lowest and highest values (far and near)
    obj = scene.objects["clip mesh"]
    geometry = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).evaluated_geometry()
    co = np.empty(len(geometry.mesh.vertices) * 3, np.float32)
    geometry.mesh.vertices.foreach_get("co", co)
    depth = -co.reshape(-1, 3)[:, 2]
    assert depth.min() == pytest.approx(2.0, rel=1e-3) and depth.max() == pytest.approx(8.0, rel=1e-3)
    settings.far = 1.0
    with pytest.raises(RuntimeError, match="must be beyond Near"):
        bpy.ops.depthshot.build_scene()


def test_depth_mapping_scales_metric_depth_and_refuses_nonsense():
    from blender_addon.camera_model import DepthMapping

    shots = [(0.5, 4.0, 0.8, 3.5)]  # lo, hi, p2, p98 in metres
    mapping = DepthMapping(metric_scale=2.0)
    assert mapping.nearest("metric_depth", shots) == pytest.approx(1.6)
    assert mapping.farthest("metric_depth", shots) == pytest.approx(8.0)
    assert DepthMapping(near=2.0, ratio=4.0).farthest("relative_inverse_depth", shots) == pytest.approx(8.0)
    assert DepthMapping(hfov_deg=90).camera(64, 48, {"fx": 10, "fy": 10, "cx": 31.5, "cy": 23.5}).hfov_deg == \
        pytest.approx(90.0)
    for bad in ({"near": 0.0}, {"ratio": 1.0}, {"metric_scale": -1.0}, {"hfov_deg": 180.0}):
        with pytest.raises(ValueError):
            DepthMapping(**bad)
