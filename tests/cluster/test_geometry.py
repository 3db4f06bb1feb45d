"""core.cluster.geometry on a real local Ray (2 CPUs): ``python -m core.pointcloud|core.mesh --ray`` writes the
single-process files byte for byte (per frame, and per shot with --fuse / --tsdf), finishes a run stopped on one
process without rewriting its files, computes a video's depth pass on Ray first; ``--ray`` without Ray installed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

import core.geometry.pointcloud as pointcloud
from core import mesh as mesh_cli
from core import pointcloud as pointcloud_cli
from core.bench.soak import tree_digest
from core.cli import run_main
from core.depth.depth_pass import DepthPass, DepthPassWriter, PassInfo
from core.geometry.pointcloud import read_ply
from core.video import EncodeSettings, VideoWriter
from tests.cluster.conftest import ENGINE_ARGS
from tests.depth.videos import scene_frames, write_video
from tests.geometry.conftest import FPS, frame_image, step_depth

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "assets" / "tum_desk_depth"  # the bundled real pass (TUM fr1/desk, 640x480, metric)
W, H, N = 64, 48, 8


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory) -> tuple[Path, Path]:
    """A metric 64x48 pass of two 4-frame shots (a step in depth that moves closer each frame) with its lossless
    source video, and a JSON pose file (the camera slides 2 cm right per frame)."""
    root = tmp_path_factory.mktemp("two_shots")
    with VideoWriter(root / "clip.mkv", W, H, FPS, EncodeSettings(codec="ffv1", pix_fmt="rgb24")) as video:
        for i in range(N):
            video.write(frame_image(i, W, H), i / FPS)
    writer = DepthPassWriter(root / "pass", PassInfo(source=str(root / "clip.mkv"), fps=FPS, width=W, height=H,
                                                      kind="metric_depth"))
    for start in (0, N // 2):
        writer.begin_shot(start)
        for i in range(start, start + N // 2):
            writer.write(i, step_depth(W, H) - 0.05 * i, i / FPS)
        writer.end_shot()
    writer.close()
    poses = [np.eye(4) for _ in range(N)]
    for i, pose in enumerate(poses):
        pose[0, 3] = 0.02 * (i % (N // 2))
    (root / "poses.json").write_text(json.dumps([p.tolist() for p in poses]))
    return root / "pass", root / "poses.json"


def _same_files(ray_out: Path, ref: Path, count: int) -> None:
    want, got = tree_digest(ref), tree_digest(ray_out)
    assert len(want) == count
    assert got == want  # no lock, no partial file left either


def test_point_clouds_on_ray_are_the_single_process_files(local_ray, tmp_path):
    argv = [str(BUNDLED), "--frames", "0-11", "--stride", "8"]
    ref, out = tmp_path / "one", tmp_path / "ray"
    assert run_main(pointcloud_cli.main, [*argv, "-o", str(ref)]) == 0
    assert run_main(pointcloud_cli.main, [*argv, "-o", str(out), "--ray"]) == 0  # 6 tasks of 2 frames
    _same_files(out, ref, 12)
    for i in (0, 11):
        a, b = read_ply(ref / f"{i:06d}.ply"), read_ply(out / f"{i:06d}.ply")
        assert len(a) > 1000
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.colors, b.colors)


def test_a_run_stopped_on_one_process_is_finished_on_ray(local_ray, tmp_path, monkeypatch, capsys):
    argv = [str(BUNDLED), "--frames", "0-11", "--stride", "8"]
    ref, out = tmp_path / "one", tmp_path / "out"
    assert run_main(pointcloud_cli.main, [*argv, "-o", str(ref)]) == 0
    write, calls = pointcloud.write_ply, {"n": 0}

    def write_then_stop(path, points):  # Ctrl-C in the single-process run after 5 files
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return write(path, points)

    with monkeypatch.context() as m:
        m.setattr(pointcloud_cli, "write_ply", write_then_stop)
        with pytest.raises(KeyboardInterrupt):
            pointcloud_cli.main([*argv, "-o", str(out)])
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.ply")}
    assert len(kept) == 5
    capsys.readouterr()
    assert run_main(pointcloud_cli.main, [*argv, "-o", str(out), "--ray"]) == 0
    assert "7/7" in capsys.readouterr().err  # the bar covers the frames left, all of them
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept  # not rewritten
    _same_files(out, ref, 12)


def test_meshes_on_ray_are_the_single_process_files(local_ray, two_shots, tmp_path):
    src, poses = two_shots
    argv = [str(src), "--format", "obj", "--stride", "4", "--poses", str(poses)]
    ref, out = tmp_path / "one", tmp_path / "ray"
    assert run_main(mesh_cli.main, [*argv, "-o", str(ref)]) == 0
    assert run_main(mesh_cli.main, [*argv, "-o", str(out), "--ray"]) == 0
    _same_files(out, ref, 3 * N)  # .obj, .mtl, .png per frame
    a = trimesh.load(ref / "000007.obj", force="mesh")
    b = trimesh.load(out / "000007.obj", force="mesh")
    assert len(a.faces) > 100
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)


def test_fused_clouds_and_tsdf_meshes_per_shot_on_ray(local_ray, two_shots, tmp_path):
    src, poses = two_shots
    for cli, extra, names in ((pointcloud_cli, ["--fuse", "--voxel", "0.02"], ["shot_000.ply", "shot_001.ply"]),
                              (mesh_cli, ["--tsdf", "0.05"], ["shot_000.glb", "shot_001.glb"])):
        argv = [str(src), "--poses", str(poses), *extra]
        ref, out = tmp_path / f"{cli.__name__}_one", tmp_path / f"{cli.__name__}_ray"
        assert run_main(cli.main, [*argv, "-o", str(ref)]) == 0
        assert run_main(cli.main, [*argv, "-o", str(out), "--ray"]) == 0  # each shot one task
        assert sorted(tree_digest(ref)) == names
        _same_files(out, ref, 2)
    cloud = read_ply(tmp_path / "core.pointcloud_ray" / "shot_001.ply")
    assert len(cloud) > 100
    assert len(trimesh.load(tmp_path / "core.mesh_ray" / "shot_001.glb", force="mesh").faces) > 10


def test_a_video_gets_its_depth_pass_on_ray_first(local_ray, vits_weights, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", scene_frames(6, 96, 64, seed=7), fps=10)
    argv = [str(clip), "--weights", str(vits_weights), *ENGINE_ARGS, "--stride", "4"]
    ref, out = tmp_path / "one", tmp_path / "ray"
    assert run_main(pointcloud_cli.main, [*argv, "-o", str(ref)]) == 0
    assert run_main(pointcloud_cli.main, [*argv, "-o", str(out), "--ray"]) == 0
    assert len(DepthPass.open(out / "depth_pass")) == 6
    _same_files(out, ref, 6 + 6 + 1)  # the clouds, and the pass (PNGs, manifest) identical too


def test_ray_switch_without_ray_installed_is_one_line(tmp_path):
    out = tmp_path / "out"
    code = ("import sys, runpy; sys.modules['ray'] = None; sys.argv = ['core.mesh', *sys.argv[1:]]; "
            "runpy.run_module('core.mesh', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code, str(BUNDLED), "-o", str(out), "--ray"], cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --ray needs Ray, which is not installed: "
                                                "pip install 'depthshot[ray]'"]
    assert not out.exists()
