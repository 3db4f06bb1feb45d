"""Scene builders on a depth pass written with the core's DepthPassWriter and a real movie strip."""

import math

import bpy
import numpy as np
import pytest

from core.geometry import camera as core_camera

from .conftest import GRID, H, N, W


def expected_positions(i: int) -> np.ndarray:
    """Reference positions (camera axes) of the grid vertices for frame i, from the core's own camera model."""
    from core.depth.depth_pass import DepthPass

    dp = DepthPass.open(bpy.context.scene.sequence_editor.active_strip["depthshot_pass"])
    shot = dp.shot_of(i)
    cols = np.round(np.linspace(0, W - 1, GRID[0])).astype(int)
    rows = np.round(np.linspace(0, H - 1, GRID[1])).astype(int)
    depth = core_camera.raw_to_depth(dp.read(i), dp.info.kind, shot.lo, shot.hi)
    points = core_camera.unproject(depth, core_camera.Intrinsics.from_fov(W, H))
    grid = points[rows][:, cols]  # [gy, gx, 3], row 0 = top
    return core_camera.opencv_to_blender(grid)


def evaluated_positions(obj) -> np.ndarray:
    depsgraph = bpy.context.evaluated_depsgraph_get()
    geometry = obj.evaluated_get(depsgraph).evaluated_geometry()
    attribute = geometry.mesh.attributes["position"]
    out = np.empty(len(attribute.data) * 3, np.float32)
    attribute.data.foreach_get("vector", out)
    if obj.name.endswith("points"):  # one camera-facing square of four vertices per point: its centre
        return out.reshape(-1, 4, 3).mean(axis=1)
    return out.reshape(-1, 3)


@pytest.mark.parametrize("name", ["clip mesh", "clip points"])
def test_geometry_follows_the_depth_of_the_current_frame(built, name):
    obj = built.objects[name]
    seen = []
    for frame in (1, 2, 5):  # strip starts at scene frame 1 -> pass frames 0, 1, 4 (two shots)
        built.frame_set(frame)
        got = evaluated_positions(obj)
        # Blender's grid: x-major, bottom row first; reference: row 0 = top
        ref = expected_positions(frame - 1)[::-1].transpose(1, 0, 2).reshape(-1, 3)
        np.testing.assert_allclose(got, ref, rtol=2e-3, atol=2e-3)
        seen.append(got)
    assert not np.allclose(seen[0], seen[1]) and not np.allclose(seen[1], seen[2])


def test_camera_sees_the_original_frame(built):
    cam = built.camera.data
    assert cam.sensor_fit == "HORIZONTAL"
    assert math.degrees(cam.angle_x) == pytest.approx(core_camera.DEFAULT_HFOV_DEG, abs=1e-4)
    assert (built.render.resolution_x, built.render.resolution_y) == (W, H)
    assert cam.stereo.convergence_mode == "OFFAXIS"


def test_depth_strip_is_added_above_the_movie(scene, clip, depth_pass, addon):
    strips = scene.sequence_editor.strips
    movie = strips.new_movie("clip", str(clip), 2, 10)
    manifest = addon.pass_manifest.read_manifest(depth_pass)
    strip = addon.scene_build.add_depth_strip(scene, movie, manifest)
    assert strip.type == "IMAGE" and strip.channel == 3
    assert (strip.frame_final_start, strip.frame_final_duration) == (10, N)
    assert [e.filename for e in strip.elements] == [f"{i:06d}.png" for i in range(N)]


def test_stereo_render_is_side_by_side_with_differing_halves(built, tmp_path):
    built.render.engine = "BLENDER_WORKBENCH"
    built.display.shading.light = "FLAT"
    built.display.shading.color_type = "TEXTURE"
    built.render.use_sequencer = False
    built.render.filepath = str(tmp_path / "sbs.png")
    built.frame_set(2)
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(tmp_path / "sbs.png"))
    assert tuple(image.size) == (2 * W, H)
    pixels = np.array(image.pixels[:], np.float32).reshape(H, 2 * W, 4)[..., :3]
    left, right = pixels[:, :W], pixels[:, W:]
    assert left.std() > 0.05  # the footage is there, not an empty background
    assert np.abs(left - right).max() > 0.1  # two eyes (test_geometry_rules checks which way content shifts)


def test_camera_constants_match_the_core(addon):
    model = addon.camera_model
    assert model.DEFAULT_HFOV_DEG == core_camera.DEFAULT_HFOV_DEG
    assert model.DEFAULT_NEAR == core_camera.DEFAULT_NEAR
    assert model.DEFAULT_NEAR_FAR_RATIO == core_camera.DEFAULT_NEAR_FAR_RATIO
    from core.geometry.edges import DEFAULT_MAX_ANGLE_DEG

    assert model.DEFAULT_EDGE_ANGLE_DEG == DEFAULT_MAX_ANGLE_DEG
    k = core_camera.Intrinsics.from_fov(W, H)
    cam = model.pass_camera(W, H)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == pytest.approx((k.fx, k.fy, k.cx, k.cy))
    lens = core_camera.blender_lens(k)
    assert (cam.lens_mm, *cam.shift) == pytest.approx((lens.lens_mm, lens.shift_x, lens.shift_y))
    inv = np.linspace(0.0, 1.0, 11, dtype=np.float32)[None]
    ref = core_camera.inverse_depth_to_depth(inv, 0.0, 1.0)[0]
    assert [model.relative_depth(float(t)) for t in inv[0]] == pytest.approx(ref.tolist(), rel=1e-6)


def test_point_cloud_is_textured_in_workbench(scene, clip, depth_pass, tmp_path, addon):
    from .conftest import strip_ready_to_build

    strip_ready_to_build(scene, clip, depth_pass)
    scene.depthshot.build_mesh = False
    scene.depthshot.grid_x, scene.depthshot.grid_y = W, H
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "FLAT"
    scene.display.shading.color_type = "TEXTURE"  # what the docs use
    scene.render.use_sequencer = scene.render.use_multiview = False
    scene.render.filepath = str(tmp_path / "points.png")
    scene.frame_set(2)  # footage frame 1: green, with the dark band on the left
    bpy.ops.render.render(write_still=True)
    image = np.array(bpy.data.images.load(str(tmp_path / "points.png")).pixels[:], np.float32).reshape(H, W, 4)
    rgb = image[H // 4 : -H // 4, :, :3]
    right = rgb[:, W // 2 :].reshape(-1, 3).mean(axis=0)
    assert right[1] > 0.5 and right[1] > 2 * max(right[0], right[2])  # the footage's green, not flat grey
    assert rgb[:, 2 : W // 8].mean() < 0.3  # and its dark band
