"""A video as INPUT: depth is computed first (``core.depth.run_depth`` with synthetic weights), then geometry."""

import importlib.util
from pathlib import Path

import pytest

from core import pointcloud as pointcloud_cli
from core.cli import run_main
from core.depth.depth_pass import DepthPass
from core.geometry.pointcloud import read_ply
from core.video import EncodeSettings, VideoWriter

from .conftest import frame_image

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"


@pytest.mark.slow
def test_video_input_computes_a_depth_pass_then_point_clouds(tmp_path, monkeypatch):
    engine = pytest.importorskip("core.depth", reason="engine")
    if not hasattr(engine, "run_depth"):
        pytest.skip("core.depth.run_depth has not landed yet")
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fixtures = SHARED / "fixtures" / "vda"
    spec = importlib.util.spec_from_file_location("make_weights", fixtures / "make_weights.py")
    make_weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_weights)
    weights = tmp_path / "vda_s.pth"
    torch.save(make_weights.make_state_dict(str(fixtures / "layout_vits.json")), weights)

    video = tmp_path / "clip.mp4"
    with VideoWriter(video, 64, 48, 10.0, EncodeSettings(crf=10, preset="ultrafast")) as out:
        for i in range(4):
            out.write(frame_image(i, 64, 48))
    out_dir = tmp_path / "clouds"
    argv = [str(video), "-o", str(out_dir), "--model", "vda-s", "--weights", str(weights), "--input-size", "56",
            "--device", "cpu"]
    assert run_main(pointcloud_cli.main, argv) == 0
    dp = DepthPass.open(out_dir / "depth_pass")
    assert len(dp) == 4 and dp.info.kind == "relative_inverse_depth"
    assert sorted(p.name for p in out_dir.glob("*.ply")) == [f"{i:06d}.ply" for i in range(4)]
    pts = read_ply(out_dir / "000003.ply")
    assert len(pts) > 0
    # relative depth lands in the documented range [near, near * ratio] = [1, 10]
    assert pts.positions[:, 2].min() >= 1.0 - 1e-4 and pts.positions[:, 2].max() <= 10.0 + 1e-3
