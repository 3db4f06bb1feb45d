"""The ``python -m core.pointcloud`` / ``python -m core.mesh`` commands on real depth passes and videos."""

import numpy as np
import pytest
import trimesh

from core import mesh as mesh_cli
from core import pointcloud as pointcloud_cli
from core.cli import run_main
from core.geometry.pointcloud import read_ply
from core.geometry.sequence import CameraOptions, iter_frames

from .conftest import frame_image, step_depth


def test_pointcloud_command_writes_one_coloured_ply_per_frame(step_pass, tmp_path):
    out = tmp_path / "clouds"
    assert run_main(pointcloud_cli.main, [str(step_pass.root), "-o", str(out), "--fov", "90"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["000000.ply", "000001.ply", "000002.ply"]
    for i in range(3):
        pts = read_ply(out / f"{i:06d}.ply")
        assert len(pts) == 48 * 64  # a clean step has no pixel interpolated across it: both sides stay
        assert set(np.unique(pts.positions[:, 2])) == {2.0, 4.0}
        np.testing.assert_array_equal(pts.colors, frame_image(i, 64, 48).reshape(-1, 3))  # the same frame's colours
    # --fov 90: fx = 32, so the left edge pixel's x / z is (0 - 31.5) / 32
    pts = read_ply(out / "000000.ply")
    assert pts.positions[0, 0] / pts.positions[0, 2] == pytest.approx(-31.5 / 32, rel=1e-5)


def test_commands_resume_and_select_frames(step_pass, tmp_path):
    out = tmp_path / "meshes"
    assert run_main(mesh_cli.main, [str(step_pass.root), "-o", str(out), "--frames", "1-2", "--stride", "1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["000001.glb", "000002.glb"]
    before = (out / "000001.glb").stat().st_mtime_ns
    assert run_main(mesh_cli.main, [str(step_pass.root), "-o", str(out)]) == 0  # only frame 0 is missing
    assert sorted(p.name for p in out.iterdir()) == ["000000.glb", "000001.glb", "000002.glb"]
    assert (out / "000001.glb").stat().st_mtime_ns == before
    mesh = trimesh.load(out / "000002.glb", force="mesh")
    assert len(mesh.faces) == 2 * 62 * 47
    np.testing.assert_array_equal(np.asarray(mesh.visual.material.baseColorTexture.convert("RGB")),
                                  frame_image(2, 64, 48))


def test_mesh_command_obj_format(step_pass, tmp_path):
    out = tmp_path / "obj"
    assert run_main(mesh_cli.main, [str(step_pass.root), "-o", str(out), "--format", "obj", "--frames", "0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["000000.mtl", "000000.obj", "000000.png"]
    # stride 2 on 64x48: a 32x24 vertex grid, 31x23 quads of 2 triangles; the one column of 23 quads spanning the
    # 2 m | 4 m step (vertex columns 15 and 16, x = 30 and 32) is cut by the edge filter
    assert len(trimesh.load(out / "000000.obj", force="mesh").faces) == 2 * 31 * 23 - 2 * 23


def test_relative_pass_uses_the_bounded_depth_range(pass_factory):
    inv = np.tile(np.linspace(0.1, 0.9, 64, dtype=np.float32), (48, 1))
    dp = pass_factory([inv, inv * 0.5 + 0.1], kind="relative_inverse_depth")
    frames = list(iter_frames(dp, [0, 1], CameraOptions()))
    # the shot spans raw 0.1 .. 0.9: nearest point at 1, farthest at 10, for both frames
    assert frames[0].depth.min() == pytest.approx(1.0, rel=1e-3)
    assert frames[0].depth.max() == pytest.approx(10.0, rel=1e-3)
    assert frames[1].depth.min() > 1.5  # the second frame is farther: the shot, not the frame, sets the range
    assert frames[1].intrinsics.hfov_deg == pytest.approx(60.0)


def test_pass_intrinsics_are_used(pass_factory):
    dp = pass_factory([step_depth(64, 48)], intrinsics={"fx": 50.0, "fy": 52.0, "cx": 30.0, "cy": 20.0})
    (frame,) = iter_frames(dp, [0])
    assert (frame.intrinsics.fx, frame.intrinsics.fy, frame.intrinsics.cx) == (50.0, 52.0, 30.0)
    (frame,) = iter_frames(dp, [0], CameraOptions(fov_deg=90.0))
    assert frame.intrinsics.fx == pytest.approx(32.0)


def test_bad_inputs_give_one_line_errors(step_pass, pass_factory, tmp_path, capsys):
    def error(cli, *args):
        assert run_main(cli.main, [*map(str, args), "-o", str(tmp_path / "o")]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        return lines[0]

    assert "no such file" in error(pointcloud_cli, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "not a depth pass" in error(mesh_cli, tmp_path / "empty")
    assert "frame selection" in error(pointcloud_cli, step_pass.root, "--frames", "a-b")
    assert "outside the depth pass" in error(mesh_cli, step_pass.root, "--frames", "7")
    assert "field of view" in error(pointcloud_cli, step_pass.root, "--fov", "200")
    assert "near/far ratio" in error(mesh_cli, step_pass.root, "--near-far-ratio", "0.5")
    assert "edge angle" in error(pointcloud_cli, step_pass.root, "--edge-angle", "95")
    assert "stride" in error(pointcloud_cli, step_pass.root, "--stride", "0")
    (tmp_path / "junk.mp4").write_bytes(b"\0" * 100)
    assert "junk.mp4" in error(pointcloud_cli, tmp_path / "junk.mp4", "--pass-dir", tmp_path / "jp")
    step_pass.source_path().unlink()
    assert "source video" in error(pointcloud_cli, step_pass.root)
    assert not (tmp_path / "o").exists()  # nothing written on errors
