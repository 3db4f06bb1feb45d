"""Build 3D with camera poses: a synthetic moving-camera pass with exact poses (a static wall, the camera moving
+x and turning), recorded in the manifest by the core's own ``record_in_pass``."""

import math
import shutil

import bpy
import numpy as np
import pytest

from core.depth.depth_pass import DepthPass, DepthPassWriter, PassInfo
from core.geometry import camera as core_camera
from core.geometry.poses import Trajectory, record_in_pass

from .conftest import FPS, GRID, H, N, W, WORKER_PYTHON, prefs, strip_ready_to_build

WALL_Z = 4.0  # the wall: the plane z = 4 m of the world (OpenCV axes of frame 0's camera)
STEP_X = 0.1  # the camera moves +x by this much per frame (metres) ...
YAW = 0.05  # ... and turns about its y axis by this much per frame (radians)
FLAGGED = 3  # tracking "failed" on this frame


def true_pose(k: int) -> np.ndarray:
    """World-from-camera of frame k (OpenCV axes), float64 [4, 4]."""
    c, s = math.cos(YAW * k), math.sin(YAW * k)
    pose = np.eye(4)
    pose[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    pose[0, 3] = STEP_X * k
    return pose


# written here from the axes alone, not with core.geometry.poses: the shot's OpenCV world (x right, y down, z
# forward) in Blender's z-up world is x -> x, y -> -z, z -> +y; a Blender camera's local axes are OpenCV's with y and
# z flipped (it looks down its -z, y up)
CV_WORLD_TO_BLENDER = np.array([[1.0, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]])
BLENDER_CAMERA_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def blender_camera(pose: np.ndarray) -> np.ndarray:
    """The Blender camera object's matrix_world for the world-from-camera ``pose`` (OpenCV axes)."""
    return CV_WORLD_TO_BLENDER @ pose @ BLENDER_CAMERA_TO_CV


def wall_depth(k: int) -> np.ndarray:
    """Exact metric depth [H, W] of the wall seen from frame k's camera."""
    intr = core_camera.Intrinsics.from_fov(W, H)
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    rays = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones((H, W))], -1)  # z = 1
    pose = true_pose(k)
    world_z = rays @ pose[2, :3]
    return ((WALL_Z - pose[2, 3]) / world_z).astype(np.float32)


@pytest.fixture(scope="module")
def wall_pass(clip, tmp_path_factory):
    """A metric pass of the clip's ``N`` frames (one shot): the wall seen from the moving camera, no poses."""
    path = tmp_path_factory.mktemp("wall") / "clip.depth"
    writer = DepthPassWriter(path, PassInfo(source=str(clip), fps=FPS, width=W, height=H, kind="metric_depth"))
    writer.begin_shot(0)
    for k in range(N):
        writer.write(k, wall_depth(k), k / FPS)
    writer.end_shot()
    writer.close()
    return path


@pytest.fixture(scope="module")
def posed_pass(wall_pass, tmp_path_factory):
    """``wall_pass`` with the true poses; frame ``FLAGGED`` marked invalid and given a wrong pose (as odometry's
    prediction would be)."""
    path = tmp_path_factory.mktemp("posed") / "clip.depth"
    shutil.copytree(wall_pass, path)
    dp = DepthPass.open(path)
    poses = np.stack([true_pose(k) for k in range(N)])
    poses[FLAGGED, 0, 3] += 5.0
    valid = np.arange(N) != FLAGGED
    record_in_pass(dp, Trajectory(poses, valid, source="test"), "metres")
    return path


def matrix(obj) -> np.ndarray:
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    return np.array(evaluated.matrix_world)


def world_vertices(obj) -> np.ndarray:
    """The evaluated mesh's vertices in world space, Blender grid order (x-major, bottom row first)."""
    from .test_scene import evaluated_positions

    local = evaluated_positions(obj).astype(np.float64)
    m = matrix(obj)
    return local @ m[:3, :3].T + m[:3, 3]


def grid_pixels() -> np.ndarray:
    """(col, row) of each grid vertex, in Blender's grid order."""
    cols = np.round(np.linspace(0, W - 1, GRID[0]))
    rows = np.round(np.linspace(0, H - 1, GRID[1]))[::-1]  # bottom row first
    return np.array([(c, r) for c in cols for r in rows])


@pytest.fixture
def posed(scene, clip, posed_pass, addon):
    strip = strip_ready_to_build(scene, clip, posed_pass)
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    return scene, strip


def test_camera_is_keyed_from_the_poses_in_blender_axes(posed, addon):
    scene, strip = posed
    rig = addon.scene_build.find_rig(scene, strip)
    camera, root = (addon.scene_build.rig_object(rig, r) for r in ("camera", "world"))
    assert camera.parent == root and tuple(root.location) == (0.0, 0.0, 0.0)  # the empty scene: at the origin
    for k in (0, 1, 4, 5):
        scene.frame_set(1 + k)  # the strip starts at scene frame 1
        np.testing.assert_allclose(matrix(camera), blender_camera(true_pose(k)), atol=1e-5)
    # the numbers themselves: frame 0 is Blender's upright camera looking down +Y (rotation_euler (90°, 0, 0));
    # at frame 5 it has moved 0.5 m along +X and turned 0.25 rad about the vertical (OpenCV +y is down, so
    # turning towards OpenCV +x is a turn to the right, about Blender -Z)
    scene.frame_set(1)
    np.testing.assert_allclose(matrix(camera), [[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
                               atol=1e-6)
    scene.frame_set(6)
    c, s = math.cos(5 * YAW), math.sin(5 * YAW)
    np.testing.assert_allclose(matrix(camera), [[c, 0, -s, 5 * STEP_X], [-s, 0, -c, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
                               atol=1e-5)
    assert matrix(camera)[0, 2] < 0  # looking down -Z of the camera: the view direction has turned towards +X
    # directions: moving +x in the (OpenCV) world moves +x in Blender; the camera looks down its -Z, which is
    # Blender's +Y (OpenCV forward) at frame 0; the wall is in front of it
    scene.frame_set(1)
    m0 = matrix(camera)
    scene.frame_set(3)
    m2 = matrix(camera)
    assert m2[0, 3] - m0[0, 3] == pytest.approx(2 * STEP_X, abs=1e-5) and abs(m2[1, 3] - m0[1, 3]) < 1e-5
    np.testing.assert_allclose(-m0[:3, 2], (0, 1, 0), atol=1e-6)
    # the flagged frame holds the last valid pose
    scene.frame_set(1 + FLAGGED)
    np.testing.assert_allclose(matrix(camera), blender_camera(true_pose(FLAGGED - 1)), atol=1e-5)
    assert list(camera["depthshot_flagged_frames"]) == [FLAGGED]


def assert_wall_projects_to_its_pixels(scene, mesh, camera) -> None:
    """At the current frame the mesh is the wall (Blender y = 4, OpenCV world z = 4) and every vertex projects
    through ``camera`` back to its grid pixel."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    world = world_vertices(mesh)
    assert len(world) == GRID[0] * GRID[1]
    np.testing.assert_allclose(world[:, 1], WALL_Z, atol=2e-3 * WALL_Z)
    cam = camera.evaluated_get(bpy.context.evaluated_depsgraph_get())
    uvz = np.array([tuple(world_to_camera_view(scene, cam, Vector(p))) for p in world])
    col, row = uvz[:, 0] * W - 0.5, (1.0 - uvz[:, 1]) * H - 0.5
    np.testing.assert_allclose(np.stack([col, row], 1), grid_pixels(), atol=0.02)


def test_geometry_is_the_static_wall_in_world_space_and_projects_to_its_pixel(posed, addon):
    scene, strip = posed
    mesh, camera = scene.objects["clip mesh"], scene.objects["clip camera"]
    for k in (0, 2, 5):
        scene.frame_set(1 + k)
        assert_wall_projects_to_its_pixels(scene, mesh, camera)  # at every frame: the frames line up
    # the background plate behind them is the strip's movie, its frame 0 at the strip's first frame
    plates = camera.data.background_images
    assert camera.data.show_background_images and len(plates) == 1
    assert plates[0].image.filepath == strip.filepath and plates[0].image_user.frame_start == 1
    # with the camera moving +x, the wall's left edge seen at frame 5 is right of frame 0's
    scene.frame_set(1)
    left0 = world_vertices(mesh)[:, 0].min()
    scene.frame_set(6)
    assert world_vertices(mesh)[:, 0].min() > left0 + 0.3


def key_frames(obj) -> list[float]:
    """The frames of ``obj``'s keys, over all its F-curves, sorted and unique."""
    from bpy_extras import anim_utils

    data = obj.animation_data
    curves = anim_utils.action_get_channelbag_for_slot(data.action, data.action_slot).fcurves
    return sorted({p.co[0] for c in curves for p in c.keyframe_points})


def test_camera_keys_follow_the_strip_when_it_is_moved(posed, addon):
    """Moving the strip in time moves the camera's pose keys with it (no rebuild), so at strip frame k the camera
    is at pose k and the geometry, driven by the strip, still lines up with it; Build 3D again keys the same."""
    scene, strip = posed
    mesh, camera = scene.objects["clip mesh"], scene.objects["clip camera"]
    for start in (8, 4, -2):  # later by 7, then earlier by 4, then before the scene's start
        strip.frame_start = start
        for k in (0, 2, FLAGGED, 5):
            scene.frame_set(start + k)
            held = FLAGGED - 1 if k == FLAGGED else k  # the flagged frame holds the last valid pose
            np.testing.assert_allclose(matrix(camera), blender_camera(true_pose(held)), atol=1e-5)
        assert key_frames(camera) == [start + k for k in range(N)]
        scene.frame_set(start + 2)
        assert_wall_projects_to_its_pixels(scene, mesh, camera)
    scene.frame_set(-2 + 5)
    m = matrix(camera)
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    assert key_frames(camera) == [-2 + k for k in range(N)]
    scene.frame_set(-2 + 4)
    scene.frame_set(-2 + 5)
    np.testing.assert_allclose(matrix(camera), m, atol=1e-7)


def test_rebuild_is_idempotent_and_world_space_can_be_turned_off(posed, addon):
    scene, strip = posed
    kinds = ("collections", "objects", "meshes", "cameras", "actions", "node_groups", "materials")
    before = {k: len(getattr(bpy.data, k)) for k in kinds}
    camera = scene.objects["clip camera"]
    scene.frame_set(5)
    m = matrix(camera)
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    assert {k: len(getattr(bpy.data, k)) for k in kinds} == before
    scene.frame_set(4)
    scene.frame_set(5)
    np.testing.assert_allclose(matrix(camera), m, atol=1e-7)
    from bpy_extras import anim_utils

    data = camera.animation_data
    curves = anim_utils.action_get_channelbag_for_slot(data.action, data.action_slot).fcurves
    assert sorted(len(c.keyframe_points) for c in curves) == [N] * 7  # location xyz, quaternion wxyz

    scene.depthshot.world_space = False  # back to a static camera-space rig: no keys, no world empty
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    assert camera.animation_data is None and camera.parent is None and "clip world" not in scene.objects
    assert len(bpy.data.actions) == before["actions"] - 1
    scene.frame_set(3)
    np.testing.assert_allclose(matrix(camera), blender_camera(np.eye(4)), atol=1e-6)


def test_relative_poses_scale_with_near_and_need_the_same_ratio(clip, tmp_path, scene, addon):
    """Relative poses are in the mapping they were made with: Near scales their translation, another Far/Near
    ratio is refused in one line."""
    path = tmp_path / "rel.depth"
    writer = DepthPassWriter(path, PassInfo(source=str(clip), fps=FPS, width=W, height=H,
                                            kind="relative_inverse_depth"))
    writer.begin_shot(0)
    for k in range(N):
        writer.write(k, 1.0 / wall_depth(k), k / FPS)
    writer.end_shot()
    dp = writer.close()
    from core.geometry.poses import pose_units

    record_in_pass(dp, Trajectory(np.stack([true_pose(k) for k in range(N)]), np.ones(N, bool)),
                   pose_units(dp, core_camera.DepthRange(near=2.0, ratio=10.0)))
    assert addon.pass_manifest.read_manifest(path).poses.near == 2.0
    strip_ready_to_build(scene, clip, path)
    scene.depthshot.near, scene.depthshot.far = 1.0, 10.0
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    scene.frame_set(1 + 4)
    camera = scene.objects["clip camera"]
    assert matrix(camera)[0, 3] == pytest.approx(4 * STEP_X / 2.0, abs=1e-5)  # near 1 instead of 2: half
    scene.depthshot.far = 20.0
    with pytest.raises(RuntimeError, match=r"made for Far/Near = 10, the panel has 20: set Far to 10"):
        bpy.ops.depthshot.build_scene()
    assert DepthPass.open(path).info.poses is not None  # the pass is only read


def write_tum_by_hand(path, poses) -> None:
    """A TUM trajectory of ``poses`` (rotations about y only): ``t tx ty tz qx qy qz qw``, written without core."""
    lines = ["# timestamp tx ty tz qx qy qz qw"]
    for k, pose in enumerate(poses):
        angle = math.atan2(pose[0, 2], pose[0, 0])
        lines.append(f"{k / FPS:.9f} {pose[0, 3]:.9f} {pose[1, 3]:.9f} {pose[2, 3]:.9f} "
                     f"0 {math.sin(angle / 2):.12f} 0 {math.cos(angle / 2):.12f}")
    path.write_text("\n".join(lines) + "\n")


def test_poses_imported_by_the_worker_key_the_camera_and_the_fused_mesh_is_the_wall_in_world_space(
        scene, clip, wall_pass, tmp_path, addon):
    """Import Poses… and Fused Mesh through the real worker (tasks ``poses`` and ``mesh``): the camera follows the
    imported trajectory, and the TSDF mesh of the shot, one static object in the rig's world, is the wall y = 4 over
    the width all frames saw together."""
    path = tmp_path / "clip.depth"
    shutil.copytree(wall_pass, path)
    tum = tmp_path / "solve.txt"
    write_tum_by_hand(tum, [true_pose(k) for k in range(N)])
    strip = strip_ready_to_build(scene, clip, path)
    prefs().python_path = WORKER_PYTHON
    try:
        with pytest.raises(RuntimeError, match="the pass records no camera poses: press Estimate Poses"):
            bpy.ops.depthshot.fused_mesh()  # refused before anything starts
        assert bpy.ops.depthshot.import_poses(filepath=str(tum)) == {"FINISHED"}
        board = addon.run_state.RUNS.get(scene.session_uid)
        assert board.text == f"camera poses: {N} frames, 0 flagged; press Build 3D"
        poses = addon.pass_manifest.read_manifest(path).poses
        assert poses.source == "solve.txt" and poses.file == str(tmp_path / "clip.depth-poses.txt")
        with pytest.raises(RuntimeError, match="build the rig in world space first"):
            bpy.ops.depthshot.fused_mesh()
        assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
        camera = scene.objects["clip camera"]
        scene.frame_set(1 + 5)
        np.testing.assert_allclose(matrix(camera), blender_camera(true_pose(5)), atol=1e-5)

        voxel = 0.05
        scene.depthshot.fused_voxel = voxel
        assert bpy.ops.depthshot.fused_mesh() == {"FINISHED"}
    finally:
        prefs().python_path = ""
    rig = addon.scene_build.find_rig(scene, strip)
    fused = addon.scene_build.rig_object(rig, "fused")
    assert fused.parent == addon.scene_build.rig_object(rig, "world") and fused.animation_data is None
    assert board.text == f"fused mesh: 1 shot, {len(fused.data.vertices)} vertices"
    m = matrix(fused)
    world = np.array([v.co for v in fused.data.vertices]) @ m[:3, :3].T + m[:3, 3]
    assert len(world) > 100
    np.testing.assert_allclose(world[:, 1], WALL_Z, atol=1.5 * voxel)  # the wall: Blender y = 4 (OpenCV z)
    assert abs(np.median(world[:, 1]) - WALL_Z) < 0.5 * voxel
    # fused, not one frame: frame 0 sees the wall over x = -2.27 .. 2.27 (4 tan 30°); the camera moved +x and
    # turned right, so later frames see it further right, the last up to x = 0.5 + 4 tan(30° + 0.25 rad) = 4.35,
    # and the TSDF keeps only voxels several frames saw
    half = WALL_Z * math.tan(math.radians(30))
    assert half + 0.6 < world[:, 0].max() < 4.354 + voxel
    assert -half - voxel < world[:, 0].min() < -half + 1.0
    assert "Col" in fused.data.color_attributes and fused.data.materials[0].name == "clip fused colour"
    # imported again in place: the same object, no second mesh
    count = len(bpy.data.meshes)
    addon.scene_build.add_fused_meshes(scene, strip, addon.pass_manifest.read_manifest(path),
                                       next(tmp_path.glob("clip.depth-fused-*")),
                                       addon.operators.panel_mapping(scene.depthshot))
    assert addon.scene_build.rig_object(rig, "fused") == fused and len(bpy.data.meshes) == count


def test_estimate_poses_runs_odometry_in_the_worker_and_records_every_frame(scene, clip, wall_pass, tmp_path, addon):
    """Estimate Poses through the real worker: every frame gets a pose (tracked or flagged), source "estimate",
    frame 0 at the shot's origin; the relative mapping is the panel's."""
    path = tmp_path / "clip.depth"
    shutil.copytree(wall_pass, path)
    strip_ready_to_build(scene, clip, path)
    prefs().python_path = WORKER_PYTHON
    try:
        assert bpy.ops.depthshot.estimate_poses() == {"FINISHED"}
    finally:
        prefs().python_path = ""
    poses = addon.pass_manifest.read_manifest(path).poses
    assert poses.source == "estimate" and len(poses.matrices) == N and poses.valid[0]
    np.testing.assert_allclose(np.reshape(poses.matrices[0], (4, 4)), blender_camera(np.eye(4)), atol=1e-9)
    board = addon.run_state.RUNS.get(scene.session_uid)
    assert board.text == f"camera poses: {N} frames, {len(poses.flagged)} flagged; press Build 3D"


def test_fused_meshes_of_two_shots_each_show_only_during_their_shot(scene, clip, depth_pass, tmp_path, addon):
    """Each shot is its own world: its fused object is visible (viewport and render) only over its frames."""
    import trimesh

    path = tmp_path / "clip.depth"
    shutil.copytree(depth_pass, path)  # two shots: frames 0-2 and 3-5
    dp = DepthPass.open(path)
    from core.geometry.poses import pose_units

    record_in_pass(dp, Trajectory(np.stack([np.eye(4)] * N), np.ones(N, bool)),
                   pose_units(dp, core_camera.DepthRange(near=1.0, ratio=10.0)))
    folder = tmp_path / "fused"
    folder.mkdir()
    for shot in (0, 1):
        tri = trimesh.Trimesh(vertices=[[0, 0, -1.0], [1, 0, -1], [0, 1, -1]], faces=[[0, 1, 2]],
                              vertex_colors=[[200, 10, 10, 255]] * 3)
        tri.export(folder / f"shot_{shot:03d}.ply")
    strip = strip_ready_to_build(scene, clip, path)
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    manifest = addon.pass_manifest.read_manifest(path)
    objects = addon.scene_build.add_fused_meshes(scene, strip, manifest, folder,
                                                 addon.operators.panel_mapping(scene.depthshot))
    assert [o.name for o in objects] == ["clip fused", "clip fused 1"]
    shown = {}
    for frame in range(0, N + 2):  # the strip covers scene frames 1..6
        scene.frame_set(frame)
        shown[frame] = tuple(not o.hide_render and not o.hide_viewport for o in objects)
    assert shown == {0: (False, False), 1: (True, False), 2: (True, False), 3: (True, False),
                     4: (False, True), 5: (False, True), 6: (False, True), 7: (False, False)}
    strip.frame_start += 10  # moved: each shot's visibility moves with it
    moved = {}
    for frame in range(10, N + 12):
        scene.frame_set(frame)
        moved[frame - 10] = tuple(not o.hide_render and not o.hide_viewport for o in objects)
    assert moved == shown
    # a triangle 1 m in front of the shot's first camera (glTF -z) is 1 m along Blender +Y from the world empty
    m = matrix(objects[0])
    np.testing.assert_allclose(m[:3, :3] @ np.array([0, 0, -1.0]) + m[:3, 3], (0.0, 1.0, 0.0), atol=1e-6)
