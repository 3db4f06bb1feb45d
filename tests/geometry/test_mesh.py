import json
import os
import shutil
import struct
import subprocess

import numpy as np
import open3d as o3d
import pytest
import trimesh

from core.errors import DepthshotError
from core.geometry.camera import Intrinsics
from core.geometry.mesh import MeshConfig, depth_to_mesh, mesh_path, write_mesh

from .conftest import frame_image, step_depth

W, H = 64, 48


def test_no_triangle_bridges_a_step_edge():
    k = Intrinsics.from_fov(W, H)
    mesh = depth_to_mesh(step_depth(W, H), frame_image(0, W, H), k)
    z = -mesh.vertices[:, 2][mesh.faces]  # glTF axes: depth is -z
    assert np.allclose(z.min(axis=1), z.max(axis=1))
    # every grid cell except the column of cells that straddles the step keeps its two triangles
    assert len(mesh.faces) == 2 * (W - 2) * (H - 1)
    assert len(mesh.vertices) == W * H


def test_vertices_are_in_blender_axes_with_uvs_on_pixel_centres():
    k = Intrinsics(fx=70.0, fy=70.0, cx=31.5, cy=23.5, width=W, height=H)
    depth = np.full((H, W), 3.0, np.float32)
    mesh = depth_to_mesh(depth, frame_image(0, W, H), k, MeshConfig(stride=2))
    assert len(mesh.vertices) == 32 * 24 and len(mesh.faces) == 2 * 31 * 23
    np.testing.assert_allclose(mesh.vertices[:, 2], -3.0, rtol=1e-6)
    # vertex 0 is pixel (0, 0): left (x < 0) and, with y up, above the axis
    assert mesh.vertices[0, 0] < 0 and mesh.vertices[0, 1] > 0
    np.testing.assert_allclose(mesh.visual.uv[0], [0.5 / W, 1 - 0.5 / H])
    np.testing.assert_allclose(mesh.visual.uv[33], [2.5 / W, 1 - 2.5 / H])
    # faces point at the camera (normals towards +z, i.e. towards the origin)
    assert np.all(mesh.face_normals[:, 2] > 0.99)


def test_glb_round_trip_has_counts_and_texture(tmp_path):
    image = frame_image(1, W, H)
    mesh = depth_to_mesh(step_depth(W, H), image, Intrinsics.from_fov(W, H), name="000001")
    path = write_mesh(mesh_path(tmp_path, 1, "glb"), mesh)
    assert [p.name for p in tmp_path.iterdir()] == ["000001.glb"]
    back = trimesh.load(path, force="mesh")
    assert len(back.vertices) == len(mesh.vertices) and len(back.faces) == len(mesh.faces)
    np.testing.assert_array_equal(np.asarray(back.visual.material.baseColorTexture.convert("RGB")), image)
    np.testing.assert_allclose(back.visual.uv, mesh.visual.uv, atol=1e-6)
    o3d_mesh = o3d.io.read_triangle_mesh(str(path), True)
    assert len(o3d_mesh.triangles) == len(mesh.faces)
    assert o3d_mesh.has_triangle_uvs() and o3d_mesh.has_textures()
    np.testing.assert_array_equal(np.asarray(o3d_mesh.textures[0]), image[::-1])  # Open3D: bottom row first


def test_obj_round_trip_writes_material_and_texture(tmp_path):
    image = frame_image(2, W, H)
    mesh = depth_to_mesh(step_depth(W, H), image, Intrinsics.from_fov(W, H), name="000002")
    path = write_mesh(mesh_path(tmp_path, 2, "obj"), mesh)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000002.mtl", "000002.obj", "000002.png"]
    back = trimesh.load(path, force="mesh")
    assert len(back.faces) == len(mesh.faces)
    np.testing.assert_array_equal(np.asarray(back.visual.material.image.convert("RGB")), image)
    o3d_mesh = o3d.io.read_triangle_mesh(str(path), True)
    assert len(o3d_mesh.triangles) == len(mesh.faces) and o3d_mesh.has_textures()
    np.testing.assert_array_equal(np.asarray(o3d_mesh.textures[0]), image[::-1])  # Open3D: bottom row first


def test_ply_round_trip_has_vertex_colours_of_the_frame(tmp_path):
    image = frame_image(3, W, H)
    mesh = depth_to_mesh(np.full((H, W), 2.0, np.float32), image, Intrinsics.from_fov(W, H))
    path = write_mesh(tmp_path / "000003.ply", mesh)
    back = trimesh.load(path, process=False)
    assert len(back.vertices) == W * H and len(back.faces) == 2 * (W - 1) * (H - 1)
    np.testing.assert_array_equal(back.visual.vertex_colors[:, :3], image.reshape(-1, 3))
    o3d_mesh = o3d.io.read_triangle_mesh(str(path))
    assert len(o3d_mesh.vertices) == W * H
    np.testing.assert_array_equal(np.rint(np.asarray(o3d_mesh.vertex_colors) * 255).astype(np.uint8),
                                  image.reshape(-1, 3))


def test_bad_inputs_raise_clear_errors(tmp_path):
    k = Intrinsics.from_fov(W, H)
    mesh = depth_to_mesh(np.ones((H, W), np.float32), frame_image(0, W, H), k)
    with pytest.raises(DepthshotError, match="unknown mesh format"):
        write_mesh(tmp_path / "x.fbx", mesh)
    with pytest.raises(DepthshotError, match="RGB uint8"):
        depth_to_mesh(np.ones((H, W), np.float32), frame_image(0, W, H).astype(np.float32), k)
    with pytest.raises(DepthshotError, match="stride"):
        MeshConfig(stride=0)


def _glb_json(path):
    """The JSON chunk of a binary glTF file, read with the container layout of the glTF 2.0 spec (not trimesh)."""
    data = path.read_bytes()
    magic, version, _ = struct.unpack_from("<4sII", data)
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert (magic, version, kind) == (b"glTF", 2, b"JSON")
    return json.loads(data[20 : 20 + length])


def _khronos_validator(path):
    """The Khronos glTF validator's report of ``path`` (npm ``gltf-validator``), or None when it is not installed."""
    node = shutil.which("node")
    if node is None:
        return None
    script = (
        "const v = require('gltf-validator'); const fs = require('fs');"
        "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))"
        ".then(r => console.log(JSON.stringify(r.issues))).catch(e => { console.error(e); process.exit(3); });"
    )
    roots = [os.environ.get("GLTF_VALIDATOR_NODE_PATH", "")]
    npm = shutil.which("npm")
    if npm is not None:
        roots.append(subprocess.run([npm, "root", "-g"], capture_output=True, text=True).stdout.strip())
    env = {**os.environ, "NODE_PATH": os.pathsep.join(r for r in roots if r)}
    done = subprocess.run([node, "-e", script, str(path)], capture_output=True, text=True, env=env)
    if done.returncode != 0 and "Cannot find module" in done.stderr:
        return None
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_glb_material_shows_the_photo_as_it_is_and_is_valid(tmp_path):
    image = frame_image(1, W, H)
    mesh = depth_to_mesh(step_depth(W, H), image, Intrinsics.from_fov(W, H), name="000001")
    path = write_mesh(mesh_path(tmp_path, 1, "glb"), mesh)
    (material,) = _glb_json(path)["materials"]
    pbr = material["pbrMetallicRoughness"]
    assert pbr.get("baseColorFactor", [1, 1, 1, 1]) == [1, 1, 1, 1]  # absent = 1 in glTF
    assert pbr.get("metallicFactor", 1.0) == 0.0 and pbr.get("roughnessFactor", 1.0) == 1.0
    assert "baseColorTexture" in pbr
    report = _khronos_validator(path)
    if report is None:
        pytest.skip("Khronos glTF validator not installed (npm install -g gltf-validator); structure checked above")
    assert report["numErrors"] == 0, report["messages"]


def test_obj_mtl_shows_the_photo_as_it_is(tmp_path):
    image = frame_image(2, W, H)
    mesh = depth_to_mesh(step_depth(W, H), image, Intrinsics.from_fov(W, H), name="000002")
    write_mesh(mesh_path(tmp_path, 2, "obj"), mesh)
    fields = {}
    for line in (tmp_path / "000002.mtl").read_text().splitlines():
        key, _, value = line.partition(" ")
        fields[key] = value
    assert fields["Kd"].split() == ["1.000000"] * 3 and fields["Ka"].split() == ["1.000000"] * 3
    assert [float(v) for v in fields["Ks"].split()] == [0.0] * 3
    assert float(fields["Pm"]) == 0.0 and float(fields["Pr"]) == 1.0 and fields["illum"] == "1"
    assert fields["map_Kd"] == "000002.png"


def test_glb_and_ply_carry_normals_towards_the_camera(tmp_path):
    import json
    import struct

    k = Intrinsics.from_fov(16, 12)
    mesh = depth_to_mesh(np.full((12, 16), 2.0, np.float32), frame_image(0, 16, 12), k)
    np.testing.assert_allclose(mesh.vertex_normals, np.tile([0.0, 0.0, 1.0], (len(mesh.vertices), 1)), atol=1e-6)
    glb = write_mesh(tmp_path / "000000.glb", mesh).read_bytes()
    (length,) = struct.unpack("<I", glb[12:16])
    assert "NORMAL" in json.loads(glb[20 : 20 + length])["meshes"][0]["primitives"][0]["attributes"]
    ply = trimesh.load(write_mesh(tmp_path / "000000.ply", mesh), process=False)
    np.testing.assert_allclose(ply.vertex_normals[:, 2], 1.0, atol=1e-5)
