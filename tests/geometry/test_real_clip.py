"""Point clouds from a real Kinect clip imported as a metric depth pass: its intrinsics, its video's colours."""

import json

import cv2
import numpy as np
import pytest

from core import pointcloud as pointcloud_cli
from core.cli import run_main
from core.depth.import_depth import import_depth
from core.geometry.pointcloud import read_ply
from core.geometry.sequence import iter_frames
from core.video import read_frames


@pytest.fixture(scope="module")
def tum_pass(tum, tmp_path_factory):
    k = json.loads((tum / "intrinsics.json").read_text())
    return import_depth(tum / "depth", tmp_path_factory.mktemp("tum") / "pass", scale=5000.0, video=tum / "rgb.mp4",
                        intrinsics={n: k[n] for n in ("fx", "fy", "cx", "cy")}, max_frames=3, fill=False)


def test_frames_pair_measured_depth_with_the_video_and_the_sensor_intrinsics(tum, tum_pass):
    frames = list(iter_frames(tum_pass, [0, 2]))
    assert [f.index for f in frames] == [0, 2]
    measured = cv2.imread(str(tum / "depth" / "00002.png"), cv2.IMREAD_UNCHANGED) / 5000.0
    depth = frames[1].depth
    assert np.array_equal(np.isnan(depth), measured == 0)  # sensor holes stay holes
    np.testing.assert_allclose(depth[measured > 0], measured[measured > 0], atol=1e-4)
    video = [f.image for f in read_frames(tum / "rgb.mp4", end=0.09)]
    np.testing.assert_array_equal(frames[1].image, video[2])
    k = frames[0].intrinsics
    assert (k.fx, k.fy, k.cx, k.cy) == (517.3, 516.5, 318.6, 255.3)


def test_pointcloud_of_the_real_clip(tum, tum_pass, tmp_path):
    out = tmp_path / "clouds"
    assert run_main(pointcloud_cli.main, [str(tum_pass.root), "-o", str(out), "--frames", "0"]) == 0
    pts = read_ply(out / "000000.ply")
    measured = cv2.imread(str(tum / "depth" / "00000.png"), cv2.IMREAD_UNCHANGED) / 5000.0
    valid = measured[measured > 0]
    # most measured pixels stay (flying pixels at depth edges go), all at measured depths
    assert 0.8 * valid.size < len(pts) < valid.size
    assert valid.min() - 1e-4 <= pts.positions[:, 2].min() and pts.positions[:, 2].max() <= valid.max() + 1e-4
    assert np.median(pts.positions[:, 2]) == pytest.approx(np.median(valid), rel=0.02)


@pytest.mark.slow
def test_estimated_poses_put_real_frames_into_one_world(tum, tmp_path):
    """The reduced pose check on real footage (the full 300-frame ATE is ``python -m core.bench poses``)."""
    from core import poses as poses_cli
    from core.depth.import_depth import read_intrinsics_file
    from core.geometry.fusion import nearest_distances
    from core.geometry.poses import load_pose_file

    dp = import_depth(tum / "depth", tmp_path / "pass", scale=5000.0, video=tum / "rgb.mp4",
                      intrinsics=read_intrinsics_file(tum / "intrinsics.json"), max_frames=21, fill=False)
    assert run_main(poses_cli.main, [str(dp.root), "-o", str(tmp_path / "poses.txt")]) == 0
    traj = load_pose_file(tmp_path / "poses.txt", dp.info.timestamps)
    assert traj.valid.all()
    out = tmp_path / "clouds"
    assert run_main(pointcloud_cli.main, [str(dp.root), "-o", str(out), "--frames", "0,10,20",
                                          "--poses", str(tmp_path / "poses.txt")]) == 0
    first = read_ply(out / "000000.ply").positions
    for i in (10, 20):
        d = nearest_distances(read_ply(out / f"{i:06d}.ply").positions, first)
        on_overlap = d[d < 0.05]
        assert on_overlap.size > 0.8 * d.size and np.median(on_overlap) < 0.01
    # without the poses the frames swim against each other
    raw = tmp_path / "raw"
    assert run_main(pointcloud_cli.main, [str(dp.root), "-o", str(raw), "--frames", "0,20"]) == 0
    d = nearest_distances(read_ply(raw / "000020.ply").positions, first)
    assert np.median(d[d < 0.05]) > np.median(on_overlap)
