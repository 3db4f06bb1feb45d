"""The engine registry and the shared engine options: what each engine takes, and what it refuses."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.depth.engines import ENGINES, get_engine, make_config
from core.depth.engines.rollingdepth import RollingDepthConfig, run_precision
from core.depth.engines.vda import VdaConfig
from core.depth.job import DepthJob, add_engine_arguments
from core.errors import DepthshotError

from .videos import scene_frames, write_video

ROOT = Path(__file__).resolve().parents[2]


def test_each_engine_takes_its_own_options():
    vda, rd = get_engine("vda"), get_engine("rollingdepth")
    assert make_config(vda, {"model": "vda-s", "input_size": 70, "preset": None}) == VdaConfig(model="vda-s", input_size=70)
    assert make_config(rd, {"preset": "full", "model": None}) == RollingDepthConfig(preset="full")
    with pytest.raises(DepthshotError, match=r"^--input-size, --model does not apply to the rollingdepth engine"):
        make_config(rd, {"input_size": 518, "model": "vda-l"})
    with pytest.raises(DepthshotError, match=r"^--preset does not apply to the vda engine \(it takes --model"):
        make_config(vda, {"preset": "fast"})
    with pytest.raises(DepthshotError, match="unknown engine 'midas'"):
        get_engine("midas")
    assert set(ENGINES) >= {"vda", "rollingdepth"}


def test_fingerprint_is_what_runs():
    """RollingDepth's preset asks for fp16, which a CPU cannot run: the manifest must say fp32 there."""
    rd = get_engine("rollingdepth")
    config = RollingDepthConfig(preset="fast")
    assert run_precision(config, "cpu") == "fp32" and run_precision(config, "cuda") == "fp16"
    assert rd.fingerprint(config, "cpu")["precision"] == "fp32"
    assert rd.fingerprint(RollingDepthConfig(precision="bf16"), "cpu")["precision"] == "bf16"
    assert get_engine("vda").kind(VdaConfig(model="vda-s-metric")) == "metric_depth"
    assert get_engine("vda").kind(VdaConfig(model="vda-s")) == "relative_inverse_depth"


def test_from_args_keeps_only_what_was_chosen():
    p = argparse.ArgumentParser()
    add_engine_arguments(p)
    job = DepthJob.from_args(p.parse_args(["--engine", "rollingdepth", "--preset", "full"]), Path("a.mp4"), Path("o"))
    assert (job.engine, job.preset, job.model, job.input_size, job.precision, job.shots) == (
        "rollingdepth", "full", None, None, None, True)
    job = DepthJob.from_args(p.parse_args(["--no-shots", "--input-size", "70"]), Path("a.mp4"), Path("o"), start=1.0)
    assert (job.engine, job.input_size, job.shots, job.start) == ("vda", 70, False, 1.0)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--engine", "rollingdepth", "--input-size", "70"], "--input-size does not apply to the rollingdepth engine"),
        (["--preset", "full"], "--preset does not apply to the vda engine"),
        (["--start", "5", "--end", "2"], "--end (2 s) must be after --start (5 s)"),
        (["--start", "-1"], "--start must be a time >= 0"),
        (["--start", "100"], "--start 100 s is past the end of"),
    ],
)
def test_refused_options_are_one_line_and_create_nothing(tmp_path, extra, message):
    src = write_video(tmp_path / "v.mp4", scene_frames(6, 96, 64, seed=0))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "core.depth", str(src), "-o", str(out), "--device", "cpu", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert message in lines[0]
    assert not out.exists()


def test_every_command_that_computes_depth_offers_the_engine_options(tmp_path):
    from core.geometry.cli import build_parser as geometry_parser
    from core.stereo.__main__ import build_parser as stereo_parser
    from core.stereo.__main__ import job_from_args

    for parser in (stereo_parser(), geometry_parser("x", "y")):
        flags = {s for a in parser._actions for s in a.option_strings}
        assert {"--engine", "--model", "--weights", "--preset", "--precision", "--input-size", "--device"} <= flags
    src = write_video(tmp_path / "v.mp4", scene_frames(2, 32, 32, 0))
    args = stereo_parser().parse_args([str(src), "--engine", "rollingdepth", "--preset", "full", "--device", "cpu"])
    depth_job = job_from_args(args).depth_job
    assert (depth_job.engine, depth_job.preset, depth_job.device) == ("rollingdepth", "full", None)
    with pytest.raises(DepthshotError, match="--encode-preset medium"):  # the encoder's preset moved
        job_from_args(stereo_parser().parse_args([str(src), "--preset", "medium"]))
