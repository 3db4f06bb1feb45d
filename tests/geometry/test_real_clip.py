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
