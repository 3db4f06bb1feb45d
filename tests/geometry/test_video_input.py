"""A video as INPUT: depth is computed first (``core.depth.run_depth`` with synthetic weights), then geometry."""


import pytest

from core import pointcloud as pointcloud_cli
from core.cli import run_main
from core.depth.depth_pass import DepthPass
from core.geometry.pointcloud import read_ply
from core.video import EncodeSettings, VideoWriter

from .conftest import frame_image


@pytest.mark.slow
def test_video_input_computes_a_depth_pass_then_point_clouds(tmp_path, monkeypatch, vits_weights):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    video = tmp_path / "clip.mp4"
    with VideoWriter(video, 64, 48, 10.0, EncodeSettings(crf=10, preset="ultrafast")) as out:
        for i in range(4):
            out.write(frame_image(i, 64, 48))
    out_dir = tmp_path / "clouds"
    argv = [str(video), "-o", str(out_dir), "--model", "vda-s", "--weights", str(vits_weights), "--input-size", "56",
            "--device", "cpu"]
    assert run_main(pointcloud_cli.main, argv) == 0
    dp = DepthPass.open(out_dir / "depth_pass")
    assert len(dp) == 4 and dp.info.kind == "relative_inverse_depth"
    assert sorted(p.name for p in out_dir.glob("*.ply")) == [f"{i:06d}.ply" for i in range(4)]
    pts = read_ply(out_dir / "000003.ply")
    assert len(pts) > 0
    # relative depth lands in the documented range [near, near * ratio] = [1, 10]
    assert pts.positions[:, 2].min() >= 1.0 - 1e-4 and pts.positions[:, 2].max() <= 10.0 + 1e-3
