"""Camera poses: conventions proven on a synthetic moving-camera clip with exact poses, every importer's round
trip, world-space clouds and meshes, the Blender camera axes, and the pass manifest record."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from core import mesh as mesh_cli
from core import pointcloud as pointcloud_cli
from core import poses as poses_cli
from core.cli import run_main
from core.depth.depth_pass import DepthPass
from core.errors import DepthshotError
from core.geometry.fusion import nearest_distances
from core.geometry.poses import (
    CV_TO_GL,
    Y_UP_TO_Z_UP,
    blender_matrix_world,
    load_pose_file,
    matrix_to_quat,
    pass_trajectory,
    read_tum,
    write_json_poses,
    write_tum,
)
from core.geometry.pointcloud import read_ply
from core.metrics.trajectory import ate_rmse

from .moving import K, exact_poses, render, surface_distance

N = 8


@pytest.fixture(scope="module")
def moving_pass(tmp_path_factory):
    from .conftest import make_pass

    poses = exact_poses(N)
    frames = [render(p) for p in poses]
    root = tmp_path_factory.mktemp("moving")
    intr = {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy}
    dp = make_pass(root, [d for _, d in frames], images=[im for im, _ in frames], intrinsics=intr)
    return dp, poses


def _colmap_text(poses: np.ndarray) -> str:
    lines = ["# Image list with two lines of data per image:", "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME"]
    order = np.random.default_rng(0).permutation(len(poses))  # COLMAP's ids need not follow the frames
    for n, i in enumerate(order):
        cam_from_world = np.linalg.inv(poses[i])
        qx, qy, qz, qw = matrix_to_quat(cam_from_world[:3, :3])
        t = cam_from_world[:3, 3]
        lines.append(f"{n + 1} {qw} {qx} {qy} {qz} {t[0]} {t[1]} {t[2]} 1 frame_{i:04d}.png")
        lines.append("" if n % 2 else "10.5 20.5 -1")
    return "\n".join(lines) + "\n"


def test_every_importer_round_trips_the_exact_poses(tmp_path):
    poses = exact_poses(N)
    times = [i / 10 for i in range(N)]
    write_tum(tmp_path / "t.txt", np.array(times), poses)
    (tmp_path / "images.txt").write_text(_colmap_text(poses))
    write_json_poses(tmp_path / "cv.json", poses)
    (tmp_path / "plain.json").write_text(json.dumps(poses.tolist()))
    blender = [p @ CV_TO_GL for p in poses]  # Blender camera objects look down their -z with y up
    (tmp_path / "bl.json").write_text(json.dumps({"axes": "blender", "poses": [m.tolist() for m in blender]}))
    for name in ("t.txt", "images.txt", "cv.json", "plain.json", "bl.json"):
        traj = load_pose_file(tmp_path / name, times)
        assert traj.valid.all()
        np.testing.assert_allclose(traj.poses, poses, atol=1e-8, err_msg=name)
    stamps, back = read_tum(tmp_path / "t.txt")
    np.testing.assert_allclose(stamps, times)
    # a TUM file with absolute timestamps and other rates is matched by time; unmatched frames are flagged
    write_tum(tmp_path / "abs.txt", 1305031102.0 + np.arange(0, 0.45, 0.05), exact_poses(9))
    traj = load_pose_file(tmp_path / "abs.txt", times)
    assert traj.valid[:5].all() and not traj.valid[5:].any()
    np.testing.assert_allclose(traj.poses[2], exact_poses(9)[4], atol=1e-8)
    with pytest.raises(DepthshotError, match="7 poses for 8 frames"):
        (tmp_path / "short.json").write_text(json.dumps(poses[:7].tolist()))
        load_pose_file(tmp_path / "short.json", times)


def test_blender_camera_axes():
    pose = exact_poses(N)[-1]
    m = blender_matrix_world(pose)
    # a point in front of the camera (OpenCV: x right, y down, z forward) ...
    p_cam = np.array([0.3, -0.2, 2.0, 1.0])
    p_blender_world = Y_UP_TO_Z_UP @ CV_TO_GL @ pose @ p_cam
    # ... is, in the Blender camera's local frame, right, up and in front (-z)
    local = np.linalg.inv(m) @ p_blender_world
    np.testing.assert_allclose(local[:3], [0.3, 0.2, -2.0], atol=1e-12)
    # frame 0's camera stands at the origin of a z-up world looking along +y (horizontal)
    m0 = blender_matrix_world(np.eye(4))
    np.testing.assert_allclose(m0[:3, :3] @ [0, 0, -1], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(m0[:3, :3] @ [0, 1, 0], [0, 0, 1], atol=1e-12)


def test_estimated_poses_match_the_exact_ones_and_are_recorded(moving_pass, tmp_path):
    dp, poses = moving_pass
    out = tmp_path / "poses.txt"
    assert run_main(poses_cli.main, [str(dp.root), "-o", str(out), "--json", str(tmp_path / "p.json"),
                                     "--scale", "1"]) == 0
    traj = load_pose_file(out, dp.info.timestamps)
    # world = the first camera: the estimate is compared without any alignment
    centre_err = np.linalg.norm(traj.poses[:, :3, 3] - poses[:, :3, 3], axis=1)
    # a swapped convention (camera-from-world, Blender axes) would be off by about the path itself (15 cm);
    # what is left is the odometry's precision at 240x180 pixels
    assert centre_err.max() < 0.02
    assert ate_rmse(traj.poses, poses) < 0.01
    rot_err = [np.degrees(np.arccos(np.clip((np.trace(a[:3, :3].T @ b[:3, :3]) - 1) / 2, -1, 1)))
               for a, b in zip(traj.poses, poses)]
    assert max(rot_err) < 1.0
    recorded = pass_trajectory(DepthPass.open(dp.root))
    assert recorded is not None and recorded.source == "estimate" and recorded.valid.all()
    np.testing.assert_allclose(recorded.poses, traj.poses, atol=1e-6)
    assert (recorded.fitness > 0.5).all() and (recorded.inliers > 1000).all()
    frame = DepthPass.open(dp.root).info.poses["frames"][3]
    np.testing.assert_allclose(np.reshape(frame["blender_matrix_world"], (4, 4)),
                               blender_matrix_world(np.reshape(frame["world_from_camera"], (4, 4))), atol=1e-8)


def test_a_cut_restarts_the_trajectory_and_an_untrackable_frame_is_flagged_not_chained(tmp_path):
    """Two shots of the moving clip (frames 0-4, then 5-8 from where the camera stood at frame 4): each shot's
    world is its own first camera. Frame 3 has no measured depth (all filled): tracking fails there, so it is
    flagged, its pose predicted (constant velocity) rather than chained from a bad alignment, and left out of
    ``--tsdf``."""
    from core.depth.depth_pass import FILLED

    from .conftest import make_pass

    poses = exact_poses(9)
    frames = [render(p) for p in poses]
    masks = [np.full(d.shape, FILLED if i == 3 else 0, np.uint8) for i, (_, d) in enumerate(frames)]
    intr = {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy}
    dp = make_pass(tmp_path, [d for _, d in frames], images=[im for im, _ in frames], intrinsics=intr,
                   masks=masks, cuts=(5,))
    assert [(s.start, s.end) for s in dp.info.shots] == [(0, 5), (5, 9)]
    out = tmp_path / "poses.txt"
    assert run_main(poses_cli.main, [str(dp.root), "-o", str(out), "--scale", "1"]) == 0
    traj = pass_trajectory(DepthPass.open(dp.root))
    assert traj.valid.tolist() == [i != 3 for i in range(9)] and traj.fitness[3] < 0.25
    truth = np.concatenate([poses[:5], np.linalg.inv(poses[5]) @ poses[5:]])  # each shot in its first camera
    np.testing.assert_allclose(traj.poses[5], np.eye(4), atol=1e-9)  # the cut restarts at the identity
    err = np.linalg.norm(traj.poses[:, :3, 3] - truth[:, :3, 3], axis=1)
    assert err[[0, 1, 2, 4, 5, 6, 7, 8]].max() < 0.02
    # the second shot is not continued from the first: chained, frame 8 would be near poses[8] (12 cm from the
    # first camera), restarted it is 4 frames of motion (about 5 cm) from the shot's origin
    assert np.linalg.norm(traj.poses[8, :3, 3]) < 0.5 * np.linalg.norm(poses[8, :3, 3])
    # the flagged frame's pose is the constant-velocity prediction: nearer the truth than frame 2's pose held
    assert err[3] < np.linalg.norm(truth[3, :3, 3] - truth[2, :3, 3])
    record = DepthPass.open(dp.root).info.poses
    assert [(s["start"], s["end"]) for s in record["shots"]] == [(0, 5), (5, 9)]
    assert [f["valid"] for f in record["frames"]] == traj.valid.tolist()
    calls: list[tuple[int, int]] = []
    mesh_cli.run(mesh_cli.parse_args([str(dp.root), "-o", str(tmp_path / "tsdf"), "--tsdf", "0.08",
                                      "--poses", "estimate", "--keep-filled"]),
                 lambda done, total: calls.append((done, total)))
    assert calls[-1] == (8, 8)  # 9 frames, the flagged one left out (even with --keep-filled)
    assert sorted(p.name for p in (tmp_path / "tsdf").iterdir() if p.suffix == ".glb") == ["shot_000.glb",
                                                                                           "shot_001.glb"]


def test_world_space_clouds_and_tsdf_mesh_with_exact_poses(moving_pass, tmp_path):
    dp, poses = moving_pass
    write_tum(tmp_path / "exact.txt", np.array(dp.info.timestamps), poses)
    clouds = tmp_path / "clouds"
    assert run_main(pointcloud_cli.main, [str(dp.root), "-o", str(clouds), "--poses", str(tmp_path / "exact.txt"),
                                          "--frames", f"0,{N - 1}"]) == 0
    first, last = read_ply(clouds / "000000.ply"), read_ply(clouds / f"{N - 1:06d}.ply")
    assert np.percentile(surface_distance(last.positions.astype(np.float64)), 99) < 1e-4  # world space
    d = nearest_distances(last.positions, first.positions)
    assert np.median(d) < 0.01 and not np.allclose(first.positions[:100], last.positions[:100])
    fused = tmp_path / "fused"
    assert run_main(pointcloud_cli.main, [str(dp.root), "-o", str(fused), "--fuse", "--voxel", "0.02",
                                          "--poses", str(tmp_path / "exact.txt")]) == 0
    cloud = read_ply(fused / "shot_000.ply")
    assert 0 < len(cloud) < N * len(first) / 2  # merged, not stacked
    assert np.percentile(surface_distance(cloud.positions.astype(np.float64)), 95) < 0.02
    per_frame = tmp_path / "meshes"  # per-frame meshes in the shot's world, glTF axes
    assert run_main(mesh_cli.main, [str(dp.root), "-o", str(per_frame), "--poses", str(tmp_path / "exact.txt"),
                                    "--frames", f"{N - 1}", "--format", "ply"]) == 0
    last_mesh = trimesh.load(per_frame / f"{N - 1:06d}.ply", process=False)
    assert np.percentile(surface_distance(last_mesh.vertices @ CV_TO_GL[:3, :3].T), 99) < 1e-4
    meshes = tmp_path / "tsdf"
    assert run_main(mesh_cli.main, [str(dp.root), "-o", str(meshes), "--tsdf", "0.04",
                                    "--poses", str(tmp_path / "exact.txt")]) == 0
    mesh = trimesh.load(meshes / "shot_000.glb", force="mesh", process=False)
    assert len(mesh.faces) > 1000 and mesh.visual.kind == "vertex"
    world = mesh.vertices @ CV_TO_GL[:3, :3].T  # the file is in glTF axes
    assert np.median(surface_distance(world)) < 0.01


def test_tsdf_mesh_reports_each_fused_frame_and_a_rerun_fuses_nothing(moving_pass, tmp_path):
    """``core.mesh.run(args, on_frame)`` (what the worker's mesh task calls): one call per frame fused, counting up
    to the frames of the shots to write; the same command again finds the shot written and fuses nothing."""
    dp, poses = moving_pass
    write_tum(tmp_path / "exact.txt", np.array(dp.info.timestamps), poses)
    argv = [str(dp.root), "-o", str(tmp_path / "tsdf"), "--tsdf", "0.08", "--poses", str(tmp_path / "exact.txt"),
            "--frames", f"1-{N - 2}"]
    calls: list[tuple[int, int]] = []
    mesh_cli.run(mesh_cli.parse_args(argv), lambda done, total: calls.append((done, total)))
    assert calls == [(k, N - 2) for k in range(1, N - 1)]
    assert (tmp_path / "tsdf" / "shot_000.glb").is_file()
    again: list[tuple[int, int]] = []
    mesh_cli.run(mesh_cli.parse_args(argv), lambda done, total: again.append((done, total)))
    assert again == []


def test_pose_command_bad_input_is_one_line(moving_pass, tmp_path, capsys):
    dp, _ = moving_pass
    before = (dp.root / "depth_pass.json").read_bytes()
    (tmp_path / "bad.txt").write_text("0 1 2 3\n")
    cases = [
        ([str(tmp_path / "nope"), "-o", str(tmp_path / "a.txt")], "no such depth pass"),
        ([str(dp.root), "-o", str(tmp_path / "a.txt"), "--import", str(tmp_path / "bad.txt")], "timestamp tx ty"),
        ([str(dp.root), "-o", str(tmp_path / "a.txt"), "--import", str(tmp_path / "missing.json")], "no such pose"),
        ([str(dp.root), "-o", str(tmp_path / "a.json")], "TUM text"),
        ([str(dp.root), "-o", str(tmp_path / "a.txt"), "--scale", "3"], "scale"),
    ]
    for argv, message in cases:
        assert run_main(poses_cli.main, argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error:") and message in err[-1], err
    assert not (tmp_path / "a.txt").exists() and not (tmp_path / "a.json").exists()
    assert (dp.root / "depth_pass.json").read_bytes() == before  # a failed run records nothing
