"""The built geometry follows the core's rules: no face across a depth step (the scale-free edge rule), and it
follows its strip in time (moved, trimmed: empty outside the strip)."""

import bpy
import numpy as np
import pytest

from core.depth.depth_pass import DepthPassWriter, PassInfo

from .conftest import FPS, H, N, W, strip_ready_to_build

STEP_COL = W // 2  # the near half starts here


@pytest.fixture(scope="session")
def step_pass(clip, tmp_path_factory):
    """One shot; left half far (inverse depth 0.1), right half near (1.0): a depth step at column STEP_COL."""
    path = tmp_path_factory.mktemp("step") / "clip.depth"
    writer = DepthPassWriter(path, PassInfo(source=str(clip), fps=FPS, width=W, height=H,
                                            kind="relative_inverse_depth"))
    inv = np.full((H, W), 0.1, np.float32)
    inv[:, STEP_COL:] = 1.0
    writer.begin_shot(0)
    for i in range(N):
        writer.write(i, inv, i / FPS)
    writer.end_shot()
    writer.close()
    return path


def mesh_of(obj) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """The evaluated mesh of ``obj``: vertex positions (V, 3) and faces (vertex indices)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    geometry = obj.evaluated_get(depsgraph).evaluated_geometry()
    mesh = geometry.mesh
    if mesh is None:
        return np.zeros((0, 3), np.float32), []
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3), [tuple(p.vertices) for p in mesh.polygons]


def faces_across_the_step(mesh) -> tuple[int, int]:
    """(faces with both a near and a far vertex, all faces) of an evaluated mesh."""
    co, faces = mesh
    depth = -co[:, 2]
    across = sum(1 for f in faces if {bool(depth[v] < 2.0) for v in f} == {True, False})
    return across, len(faces)


@pytest.mark.parametrize("angle, cut", [(85.0, True), (90.0, False)])
def test_no_face_spans_the_depth_step(scene, clip, step_pass, addon, angle, cut):
    strip_ready_to_build(scene, clip, step_pass)
    scene.depthshot.build_points = False
    scene.depthshot.grid_x, scene.depthshot.grid_y = 32, 24  # two pixels between vertices
    scene.depthshot.edge_angle = angle
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    scene.frame_set(2)
    across, total = faces_across_the_step(mesh_of(scene.objects["clip mesh"]))
    if cut:
        assert across == 0 and total >= 31 * 23 - 23  # only the column of faces on the step is gone
    else:
        assert across == 23 and total == 31 * 23  # the rule off (90 degrees): the faces stretch over the step


def test_geometry_follows_its_strip_when_moved_and_trimmed(scene, clip, depth_pass, addon):
    strip = strip_ready_to_build(scene, clip, depth_pass)
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    obj = scene.objects["clip mesh"]
    scene.frame_set(3)  # pass frame 2
    at_frame_3 = mesh_of(obj)[0]
    strip.frame_start += 10  # the user moves the strip ten frames later
    scene.frame_set(13)
    np.testing.assert_allclose(mesh_of(obj)[0], at_frame_3, atol=1e-5)
    scene.frame_set(5)  # before the strip: nothing
    assert len(mesh_of(obj)[0]) == 0
    scene.frame_set(11 + N)  # after it
    assert len(mesh_of(obj)[0]) == 0
    strip.frame_offset_end = 2  # trimmed: the last two frames show no geometry any more
    scene.frame_set(11 + N - 2)
    assert len(mesh_of(obj)[0]) == 0
    scene.frame_set(11 + N - 3)
    assert len(mesh_of(obj)[0]) > 0
    material = bpy.data.materials["clip footage"]
    assert material.node_tree.nodes["Depthshot Footage"].image_user.frame_start == strip.frame_start
    plate = bpy.data.cameras["clip camera"].background_images[0]  # the camera's background plate follows too
    assert plate.image == material.node_tree.nodes["Depthshot Footage"].image
    assert plate.image_user.frame_start == strip.frame_start == 11


BARS = {"far": (8, 12), "near": (48, 52)}  # white bars on black: one on the far half, one on the near half


@pytest.fixture(scope="session")
def bars_clip(tmp_path_factory):
    import av

    path = tmp_path_factory.mktemp("bars") / "bars.mp4"
    img = np.zeros((H, W, 3), np.uint8)
    for lo, hi in BARS.values():
        img[:, lo:hi] = 255
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "0"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv444p"
        for _ in range(N):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())
    return path


def bar_centres(eye: np.ndarray) -> dict[str, float]:
    """Column centroids of the bright bars in one eye's image (H, W, 3), left one first."""
    bright = eye.mean(axis=(0, 2)) > 0.5
    cols = np.flatnonzero(bright)
    groups = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
    assert len(groups) == 2, cols
    return {"far": float(groups[0].mean()), "near": float(groups[1].mean())}


def test_left_eye_sees_near_objects_shifted_right(scene, bars_clip, step_pass, tmp_path, addon):
    strip_ready_to_build(scene, bars_clip, step_pass)
    scene.depthshot.build_points = False
    scene.depthshot.grid_x, scene.depthshot.grid_y = 64, 48
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    camera = scene.camera.data
    assert camera.stereo.pivot == "CENTER"
    assert camera.stereo.convergence_distance == pytest.approx(1.0, rel=1e-3)  # the near half: nothing crosses
    camera.stereo.interocular_distance = 0.2  # a wide baseline makes the shift a few pixels
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "FLAT"
    scene.display.shading.color_type = "TEXTURE"
    scene.render.use_sequencer = False
    scene.render.filepath = str(tmp_path / "sbs.png")
    scene.frame_set(2)
    bpy.ops.render.render(write_still=True)
    pixels = np.array(bpy.data.images.load(str(tmp_path / "sbs.png")).pixels[:], np.float32)
    image = pixels.reshape(H, 2 * W, 4)[::-1, :, :3]  # rows top first
    left, right = bar_centres(image[:, :W]), bar_centres(image[:, W:])
    near_shift, far_shift = left["near"] - right["near"], left["far"] - right["far"]
    assert abs(near_shift) < 1.0  # converged on the nearest surface: no disparity there
    # far content is uncrossed (left eye sees it further left): f * b * (1/10 - 1/1) = -10 px at f = 55.4 px
    assert far_shift < -5.0
    assert near_shift > far_shift  # the left eye sees near objects shifted right, relative to far ones

