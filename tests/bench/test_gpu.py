"""``python -m core.bench gpu`` on its CPU path (how CI tests the GPU script): every section runs, the JSON report
holds each figure the GPU run is for, and it says plainly that no GPU was measured."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from core.bench.gpu import NO_GPU
from tests.shared_data import REPO, VDA_FIXTURES


ENV = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
ALL_STEPS = {"parity", "throughput", "engine", "stereo", "rollingdepth", "stream", "throughput_compile"}


def bench_cmd(out, *extra, fixtures=VDA_FIXTURES):
    return [sys.executable, "-m", "core.bench", "gpu", "--out", str(out), "--device", "cpu", "--fixtures",
            str(fixtures), *extra]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "report.json"
    res = subprocess.run(bench_cmd(out), cwd=REPO, env=ENV, capture_output=True, text=True, timeout=1200, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert NO_GPU in res.stdout
    return json.loads(out.read_text())


@pytest.mark.slow
def test_cpu_path_says_no_gpu_was_measured_and_runs_every_section(report):
    assert report["gpu_measured"] is False and report["note"] == NO_GPU
    assert report["errors"] == {} and report["skipped"] == []
    assert report["plan"]["device"] == "cpu" and report["device"].startswith("CPU")
    assert report["torch"] == torch.__version__ and report["cuda"] == torch.version.cuda and report["threads"] == 1
    assert report["running"] is None and report["interrupted"] is None
    assert set(report["section_seconds"]) == ALL_STEPS
    assert 0 < sum(report["section_seconds"].values()) <= report["seconds"]


@pytest.mark.slow
def test_parity_and_precision_fields(report):
    parity = report["parity"]["vits"]
    assert parity["frames"] == 8 and parity["pass"] is True
    assert parity["max_over_range"] <= parity["tolerance_max"] == 5e-5
    assert parity["mean_over_range"] <= parity["tolerance_mean"] == 5e-6
    low = report["precision"]["vits"]
    # lower precision really ran and deviates, bf16 (8 mantissa bits) more than fp16 (11)
    assert 0 < low["fp16"]["max_over_range"] < low["bf16"]["max_over_range"] < 0.1
    assert set(report["parity"]) == set(report["precision"]) == {"vits"}


@pytest.mark.slow
def test_throughput_fields(report):
    row = report["throughput"]["vda-s"]
    plan = report["plan"]
    assert (row["frames"], row["size"], row["input_size"]) == (plan["fps_frames"], plan["fps_size"], plan["fps_size"])
    for key in ("auto_reuse_fps", "auto_no_reuse_fps", "fp16_reuse_fps", "fp32_reuse_fps",
                "reference_schedule_fp16_fps"):
        assert row[key] > 0, key
    assert row["auto_precision"] == "fp32"  # auto on the CPU
    assert row["ratio_auto_vs_reference"] == pytest.approx(row["auto_reuse_fps"] / row["reference_schedule_fp16_fps"])
    assert row["ratio_fp16_vs_reference"] == pytest.approx(row["fp16_reuse_fps"] / row["reference_schedule_fp16_fps"])
    assert "peak_vram_mib" not in row
    assert "skipped" in report["throughput_compile"]  # torch.compile is measured on CUDA only


@pytest.mark.slow
@pytest.mark.parametrize("key, stages", [
    ("engine", {"decode", "engine (network)", "depth-pass writer"}),
    ("stereo", {"decode", "depth read + disparity", "warp + pack", "x264 encode"}),
])
def test_pipeline_fields(report, key, stages):
    r = report[key]
    assert set(r["stages"]) == stages and r["slowest"] in stages
    assert r["stages"][r["slowest"]] == max(r["stages"].values())
    assert r["whole_over_slowest"] == pytest.approx(r["whole"] / r["stages"][r["slowest"]])
    assert r["whole_over_sum"] == pytest.approx(r["whole"] / sum(r["stages"].values()))
    assert r["fps"]["whole"] == pytest.approx(r["frames"] / r["whole"])
    if key == "engine":
        assert r["frames"] == report["plan"]["engine_frames"]
        assert r["extra"]["precision"] == "fp32" and r["extra"]["writer CPU ms/frame"] > 0
        assert 1 <= r["extra"]["encode_batch"] <= 32 and 1 <= r["extra"]["decode_chunk"] <= 32
        w, h = report["plan"]["engine_size"]
        assert r["extra"]["size"] == f"{w}x{h}" and r["extra"]["PNG MB/frame"] > 0
        assert "peak VRAM MiB (whole job)" not in r["extra"]
        assert r["host_peak_rss_mib"] > 0 and "peak so far" in r["host_peak_rss_scope"]


@pytest.mark.slow
def test_rollingdepth_and_stream_fields(report):
    rd = report["rollingdepth"]
    assert rd["model"].startswith("tiny") and rd["dtype"] == "float32"
    assert rd["full"]["refine_steps"] > rd["fast"]["refine_steps"] == 0
    assert rd["full"]["ms_per_frame"] > rd["fast"]["ms_per_frame"] > 0  # refinement costs time
    for name in ("fast", "full"):
        assert rd[name]["ms_per_frame"] == pytest.approx(1000 * rd[name]["seconds"] / rd["frames"])
        assert rd[name]["resolution"] == report["plan"]["rd_resolution"]
    assert rd["frames"] == report["plan"]["rd_frames"] and "peak_vram_mib" not in rd
    stream = report["stream"]
    assert stream["available"] is True and stream["fps"] > 0 and stream["model"] == "vda-s"
    plan = report["plan"]
    assert stream["frames"] == plan["stream_frames"] and stream["input_size"] == plan["engine_input"]
    assert stream["steady_fps"] > stream["fps"]  # the whole pass adds the model's load and the first window
    assert stream["real_time"] is None  # measured only on CUDA (the whole pass, decode and writing included)


def test_full_size_rollingdepth_configs_have_the_real_models_size():
    # the GPU run times RollingDepth with random weights: they must have the real UNet/VAE's size (866 M / 84 M)
    import torch

    from core.bench.gpu import full_size_configs
    from core.models.rollingdepth.config import build_unet, build_vae

    unet_config, vae_config = full_size_configs()
    with torch.device("meta"):  # shapes only, no memory
        unet, vae = build_unet(unet_config), build_vae(vae_config)
    assert sum(p.numel() for p in unet.parameters()) == pytest.approx(866e6, rel=0.01)
    assert sum(p.numel() for p in vae.parameters()) == pytest.approx(83.7e6, rel=0.01)


@pytest.mark.slow
def test_a_failing_section_keeps_the_others_figures(tmp_path):
    # fixtures without the forward reference: parity fails, the stream section still runs and is reported
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    for name in ("make_weights.py", "layout_vits.json"):
        shutil.copy(VDA_FIXTURES / name, fixtures / name)
    out = tmp_path / "report.json"
    res = subprocess.run(bench_cmd(out, "--sections", "parity", "stream", fixtures=fixtures), cwd=REPO, env=ENV,
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 1, res.stderr[-2000:]
    report = json.loads(out.read_text())
    assert set(report["errors"]) == {"parity"} and "forward_vits.npz" in report["errors"]["parity"]
    assert report["stream"]["fps"] > 0 and set(report["section_seconds"]) == {"parity", "stream"}
    assert "ERROR in parity" in res.stdout


@pytest.mark.slow
def test_sigterm_keeps_the_finished_sections_and_names_the_interrupted_one(tmp_path):
    out = tmp_path / "report.json"
    proc = subprocess.Popen(bench_cmd(out, "--sections", "parity", "rollingdepth"), cwd=REPO, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # the report is written when each section starts and ends
            if out.exists() and json.loads(out.read_text())["running"] == "rollingdepth":
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]  # interrupted, as Ctrl-C
    report = json.loads(out.read_text())
    assert report["interrupted"] == "rollingdepth" and report["parity"]["vits"]["pass"] is True
    assert set(report["section_seconds"]) == {"parity"} and report["errors"] == {}
    assert not list(tmp_path.glob(".*"))  # no temporary file of the atomic write left
