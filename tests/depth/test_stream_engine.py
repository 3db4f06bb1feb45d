"""The ``vda-stream`` engine end to end: video file -> depth pass, against the reference's online inference
(fixture ``stream_vits.npz``), shots, metric, preview, resume after kill -9."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.depth import DepthJob, run_depth
from core.depth.depth_pass import DepthPass

from tests.models.vda_fixture_files import assert_close_to_reference

from .test_job import assert_resumes_to, cli, kill_when
from .videos import scene_frames, write_lossless_video, write_video

W, H = 96, 64


def job(src: Path, out: Path, weights: Path, **kw) -> DepthJob:
    kw = {"model": "vda-s", "input_size": 70, "device": "cpu", "engine": "vda-stream", **kw}
    return DepthJob(input=src, output=out, weights=weights, **kw)


@pytest.fixture(scope="module")
def stream_npz(vda_fixtures) -> dict[str, np.ndarray]:
    with np.load(vda_fixtures / "stream_vits.npz") as f:
        return dict(f)


def test_cli_no_shots_equals_reference(stream_npz, vits_weights, tmp_path):
    """The fixture's 100 frames (losslessly encoded) through ``python -m core.depth --engine vda-stream --no-shots``:
    the pass read back equals the reference per frame within 5e-5 of the range (16-bit quantisation included)."""
    src = write_lossless_video(tmp_path / "ref.mkv", stream_npz["frames"])
    out = tmp_path / "pass"
    proc = cli(src, "-o", out, "--engine", "vda-stream", "--model", "vda-s", "--weights", vits_weights,
               "--input-size", "70", "--device", "cpu", "--no-shots")
    stdout, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert stdout.strip() == str(out)
    dp = DepthPass.open(out)
    assert dp.info.model["engine"] == "vda-stream" and dp.info.kind == "relative_inverse_depth"
    assert len(dp) == 100 and len(dp.info.shots) == 1
    got = np.stack([d for _, d in dp.frames()])
    assert_close_to_reference(got, stream_npz["depth"])


def test_metric_model_streams_the_same_network(stream_npz, vits_weights, tmp_path):
    """vda-s-metric (same layout, same synthetic weights): a metric pass with the same values as the relative
    one, since streaming neither aligns nor stitches."""
    src = write_lossless_video(tmp_path / "ref.mkv", stream_npz["frames"][:16])
    metric = DepthPass.open(run_depth(job(src, tmp_path / "m", vits_weights, model="vda-s-metric", shots=False)))
    relative = DepthPass.open(run_depth(job(src, tmp_path / "r", vits_weights, shots=False)))
    assert metric.info.kind == "metric_depth" and metric.info.model["id"] == "vda-s-metric"
    for i in (0, 7, 15):
        np.testing.assert_array_equal(metric.read(i), relative.read(i))
    assert_close_to_reference(np.stack([d for _, d in metric.frames()]), stream_npz["depth"][:16])


def test_shots_reset_the_stream(vits_weights, tmp_path):
    """A two-shot clip equals two separate runs; with shots off the second shot attends to the first."""
    a = list(scene_frames(30, W, H, seed=1))
    b = list(scene_frames(28, W, H, seed=2))
    src = write_video(tmp_path / "cut.mp4", a + b)
    first, second = write_video(tmp_path / "a.mp4", a), write_video(tmp_path / "b.mp4", b)
    dp = DepthPass.open(run_depth(job(src, tmp_path / "p", vits_weights, preview="depth")))
    assert [(s.start, s.end) for s in dp.info.shots] == [(0, 30), (30, 58)]
    for clip, offset in ((first, 0), (second, 30)):
        alone = DepthPass.open(run_depth(job(clip, tmp_path / clip.stem, vits_weights, shots=False)))
        shot, ref = dp.info.shots[offset // 30], alone.info.shots[0]
        assert (shot.lo, shot.hi) == (ref.lo, ref.hi)
        for i in range(len(alone)):
            np.testing.assert_array_equal(dp.read(offset + i), alone.read(i))
    one = DepthPass.open(run_depth(job(src, tmp_path / "one", vits_weights, shots=False)))
    assert len(one.info.shots) == 1
    assert not np.allclose(one.read(45), dp.read(45), atol=1e-3)
    # --preview works with the streaming engine
    from core.video import read_frames

    assert sum(1 for _ in read_frames(tmp_path / "p" / "preview.mp4")) == 58


def test_kill_and_resume_is_byte_identical(vits_weights, tmp_path):
    """kill -9 mid-shot, run again: the open shot is restarted (the cache is not persisted) and the pass is
    byte-identical to an uninterrupted run."""
    src = write_video(tmp_path / "long.mp4", scene_frames(44, W, H, seed=3))
    args = [src, "--engine", "vda-stream", "--model", "vda-s", "--weights", vits_weights, "--input-size", "70",
            "--device", "cpu", "--no-shots"]
    ref = cli(*args, "-o", tmp_path / "ref")
    _, err = ref.communicate(timeout=600)
    assert ref.returncode == 0, err

    target = tmp_path / "resumed"
    raw = target / ".work" / "raw"
    kill_when(cli(*args, "-o", target), lambda: raw.is_dir() and sum(1 for p in raw.glob("0*.npy")) >= 20)
    assert not (target / "depth_pass.json").exists()

    assert_resumes_to(tmp_path / "ref", target, args, files=45)


def test_frame_of_another_size_is_refused(vits_weights):
    from core.depth.engine import VdaRunner
    from core.depth.stream import FrameSizeError, StreamDepth
    from core.models.weights import load_vda

    stream = StreamDepth(VdaRunner(load_vda("vda-s", vits_weights).model, 70))
    assert stream.push(np.zeros((56, 84, 3), np.uint8)).shape == (56, 84)
    with pytest.raises(FrameSizeError, match="frame 1 is 70x56, the stream started at 84x56"):
        stream.push(np.zeros((56, 70, 3), np.uint8))

