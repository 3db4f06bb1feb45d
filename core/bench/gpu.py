"""``python -m core.bench gpu --out report.json``: every CUDA figure the README needs, in one run (< 8 min on one
H100/H200-class GPU, with the fixtures' synthetic weights; nothing is downloaded).

Sections (each runs on its own: one that fails is recorded under ``errors`` and the others still run; the report
is written atomically after every section, so a run stopped part-way, by a timeout's SIGTERM or Ctrl-C, keeps the
figures of the sections that finished and names the one it stopped in under ``interrupted``):

- ``parity``: fp32 forward of VDA vits/vitb/vitl against the fixtures (``forward_<enc>.npz``, TF32 off), with the
  CPU tests' tolerances (max <= 5e-5 and mean <= 5e-6 of the reference's range);
- ``precision``: fp16 and bf16 autocast deviation from that fp32 output (max and mean, over the range);
- ``throughput``: VDA-S/B/L steady-state frames/s at 518x518 (windows after the first): depthshot's engine at
  ``--precision auto`` with and without feature reuse, in fp16, with ``--compile``, and the reference-style schedule
  (every window recomputed in one call, fp16) with the ratio; peak VRAM per model and variant; the ``--compile``
  figures run last, a model at a time, and a model is skipped when the time the previous one took would end past
  ``--budget-s``;
- ``engine``: ``core.depth`` on a synthetic 1920x1080 clip of 300 frames with VDA-L (each stage alone and the whole
  job: frames/s, which stage bounds it, peak VRAM, host RSS);
- ``stereo``: ``core.stereo`` at 1920x1080, end to end against each stage alone;
- ``rollingdepth``: the full-size UNet/VAE with random weights in fp16, ms per output frame, presets fast and full;
- ``stream``: the ``vda-stream`` engine at batch 1, when the registry has it (whole pass, and steady state: from the
  first depth frame out to the last).

Without CUDA the same code runs on the CPU at tiny sizes (vits only, small frames, tiny RollingDepth model), which is
how CI tests this script; the report then says ``"gpu_measured": false`` and prints that no GPU was measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import signal
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.atomic import atomic_path
from core.bench._fixtures import ENCODERS, add_fixtures_argument, fixtures_dir, synthetic_state_dict, synthetic_weights
from core.bench.engine import synthetic_video
from core.bench.pipeline import (
    depth_pipeline,
    depthshot_windows,
    reference_windows,
    stereo_pipeline,
)
from core.errors import DepthshotError

SECTIONS = ("parity", "precision", "throughput", "engine", "stereo", "rollingdepth", "stream")
NO_GPU = "no GPU was measured: CUDA is not available, so this ran on the CPU at tiny sizes (a test of the script)"


@dataclass(frozen=True)
class Plan:
    """Sizes of one run: the full GPU plan or the tiny CPU one."""

    device: str
    parity_encoders: tuple[str, ...]
    parity_frames: int  # 32 (out_T32) or 8 (out_T8)
    fps_models: tuple[str, ...]
    fps_size: int  # square frames, network input the same
    fps_frames: int
    compile: bool
    engine_model: str
    engine_size: tuple[int, int]
    engine_frames: int
    engine_input: int
    stereo_size: tuple[int, int]
    stereo_frames: int
    rd_full_size: bool
    rd_frames: int
    rd_resolution: int | None  # None: the preset's
    stream_frames: int
    fixtures: Path | None = None  # the VDA fixtures folder (None: core.bench._fixtures' default)


GPU_PLAN = Plan("cuda", ("vits", "vitb", "vitl"), 32, ("vda-s", "vda-b", "vda-l"), 518, 98, True, "vda-l",
                (1920, 1080), 300, 518, (1920, 1080), 120, True, 12, None, 120)
CPU_PLAN = Plan("cpu", ("vits",), 8, ("vda-s",), 28, 54, False, "vda-s", (96, 54), 36, 28, (96, 64), 8, False, 4, 48,
                12)


class SyntheticWeights:
    """The fixtures' synthetic state dicts, each made once per run: making VDA-L's takes about 45 s of CPU here, and
    five sections use it."""

    def __init__(self, fixtures: Path | None = None) -> None:
        self.fixtures = fixtures
        self._states: dict[str, dict[str, torch.Tensor]] = {}

    def state_dict(self, encoder: str) -> dict[str, torch.Tensor]:
        """The state dict of ``encoder`` (vits, vitb, vitl); not to be modified."""
        if encoder not in self._states:
            self._states[encoder] = synthetic_state_dict(encoder, self.fixtures)
        return self._states[encoder]

    def checkpoint(self, folder: Path, encoder: str) -> Path:
        """``encoder``'s state dict saved in ``folder`` as an official-style checkpoint (``synthetic_weights``)."""
        path = folder / f"{encoder}_synthetic.pth"
        return path if path.is_file() else synthetic_weights(folder, encoder, state=self.state_dict(encoder))

    def model(self, encoder: str, device: str):
        """VDA ``encoder`` with these weights, eval mode, on ``device``."""
        from core.models.vda import VideoDepthAnything

        model = VideoDepthAnything(encoder)
        model.load_state_dict(self.state_dict(encoder), strict=True)
        return model.eval().to(device)


def _over_range(got: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    rng = float(ref.max() - ref.min())
    err = np.abs(got.astype(np.float64) - ref)
    return {"max_over_range": float(err.max() / rng), "mean_over_range": float(err.mean() / rng)}


def parity_and_precision(plan: Plan, report: dict[str, Any], weights: SyntheticWeights) -> None:
    """Sections ``parity`` and ``precision``: the fixtures' forward inputs through each encoder."""
    dev = torch.device(plan.device)
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    report["parity"], report["precision"] = {}, {}
    try:
        for enc in plan.parity_encoders:
            with np.load(fixtures_dir(plan.fixtures) / f"forward_{enc}.npz") as z:
                x = torch.from_numpy(z["x"][:, : plan.parity_frames]).to(dev)
                ref = z[f"out_T{plan.parity_frames}"]
            model = weights.model(enc, plan.device)
            with torch.inference_mode():
                fp32 = model(x).float().cpu().numpy()
            check = _over_range(fp32, ref)
            report["parity"][enc] = {**check, "frames": plan.parity_frames, "tolerance_max": 5e-5,
                                     "tolerance_mean": 5e-6,
                                     "pass": check["max_over_range"] <= 5e-5 and check["mean_over_range"] <= 5e-6}
            report["precision"][enc] = {}
            for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
                with torch.inference_mode(), torch.autocast(device_type=dev.type, dtype=dtype):
                    low = model(x).float().cpu().numpy()
                report["precision"][enc][name] = _over_range(low, fp32)
            del model
            _free(dev)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _free(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.empty_cache()


def _steady_fps(times: list[float]) -> float:
    from core.depth.windows import STEP

    return STEP / float(np.median(times[1:]))


def _square_frames(plan: Plan) -> np.ndarray:
    """uint8 [fps_frames, s, s, 3] moving patterns, s = ``fps_size`` (the network input is the frame itself)."""
    s = plan.fps_size
    yy, xx = np.mgrid[0:s, 0:s]
    return np.stack([np.stack([(xx + 3 * i) % 256, (yy * 2 + i) % 256, (xx + yy) % 256], -1)
                     for i in range(plan.fps_frames)]).astype(np.uint8)


def throughput(plan: Plan, report: dict[str, Any], weights: SyntheticWeights) -> None:
    """Section ``throughput``: steady-state frames/s of each model at ``fps_size`` square frames."""
    dev = torch.device(plan.device)
    s = plan.fps_size
    frames = _square_frames(plan)
    report["throughput"] = {}
    for name in plan.fps_models:
        model = weights.model(ENCODERS[name], plan.device)
        row: dict[str, Any] = {"frames": plan.fps_frames, "size": s, "input_size": s}
        peaks: dict[str, float] = {}

        def timed(key: str, run: Callable[[], list[float]]) -> None:
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            row[key] = _steady_fps(run())
            if dev.type == "cuda":
                peaks[key.removesuffix("_fps")] = torch.cuda.max_memory_allocated(dev) / 2**20

        depthshot_windows(model, frames[:54], s, plan.device, "auto")  # warm-up (kernels, allocator)
        timed("auto_reuse_fps", lambda: depthshot_windows(model, frames, s, plan.device, "auto"))
        timed("auto_no_reuse_fps", lambda: depthshot_windows(model, frames, s, plan.device, "auto", reuse=False))
        timed("fp16_reuse_fps", lambda: depthshot_windows(model, frames, s, plan.device, "fp16"))
        timed("reference_schedule_fp16_fps", lambda: reference_windows(model, frames, s, plan.device, "fp16"))
        timed("fp32_reuse_fps", lambda: depthshot_windows(model, frames, s, plan.device, "fp32"))
        row["ratio_auto_vs_reference"] = row["auto_reuse_fps"] / row["reference_schedule_fp16_fps"]
        row["ratio_fp16_vs_reference"] = row["fp16_reuse_fps"] / row["reference_schedule_fp16_fps"]
        from core.depth.engine import resolve_precision

        row["auto_precision"] = resolve_precision("auto", dev)
        if dev.type == "cuda":  # weights included; the reference schedule also holds every frame's network input
            row["peak_vram_mib"] = peaks
        report["throughput"][name] = row
        del model
        _free(dev)


def throughput_compiled(plan: Plan, report: dict[str, Any], weights: SyntheticWeights, deadline: float,
                        save: Callable[[], None] = lambda: None) -> None:
    """``--compile`` frames/s for each model, VDA-L first (its own step: compilation takes the longest). A model is
    skipped when the time the previous one took would end past ``deadline`` (``time.perf_counter()``); one that
    fails is recorded with its error and the next still runs; ``save`` is called after each model."""
    if not plan.compile:
        report["throughput_compile"] = {"skipped": "torch.compile is measured on CUDA only"}
        return
    s = plan.fps_size
    frames = _square_frames(plan)
    report["throughput_compile"] = {}
    cost = 0.0  # seconds the previous model took: what the next one is expected to take at least
    for name in sorted(plan.fps_models, key=lambda m: -list(ENCODERS).index(m)):
        if time.perf_counter() + cost > deadline:
            report["throughput_compile"][name] = {"skipped": "time budget spent"}
            continue
        t0 = time.perf_counter()
        try:
            model = weights.model(ENCODERS[name], plan.device)
            depthshot_windows(model, frames[:54], s, plan.device, "auto", compile=True)  # compiles both batch shapes
            first = time.perf_counter() - t0
            fps = _steady_fps(depthshot_windows(model, frames, s, plan.device, "auto", compile=True))
            report["throughput_compile"][name] = {"auto_reuse_compiled_fps": fps, "first_run_s": first}
        except Exception:  # e.g. no Triton: recorded, and the next model still runs
            report["throughput_compile"][name] = {"error": traceback.format_exc()}
        model = None
        _free(torch.device(plan.device))
        cost = time.perf_counter() - t0
        save()


def engine(plan: Plan, report: dict[str, Any], work: Path, weights: SyntheticWeights) -> None:
    """Section ``engine``: ``core.depth`` stage by stage and whole on the synthetic clip."""
    w, h = plan.engine_size
    video = synthetic_video(work / "engine.mp4", plan.engine_frames, w, h)
    r = depth_pipeline(video, weights.checkpoint(work, ENCODERS[plan.engine_model]), work / "engine",
                       model=plan.engine_model, input_size=plan.engine_input, device=plan.device, precision="auto")
    report["engine"] = {**r.to_json(), "host_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                        "host_peak_rss_scope": "this process's peak so far (the earlier sections and the stage-alone "
                                               "runs, which hold every decoded frame, included)"}


def stereo(plan: Plan, report: dict[str, Any], work: Path) -> None:
    """Section ``stereo``: ``core.stereo`` end to end against each stage alone."""
    w, h = plan.stereo_size
    report["stereo"] = stereo_pipeline(w, h, plan.stereo_frames, work / "stereo", device=plan.device).to_json()


def full_size_configs() -> tuple[dict[str, Any], dict[str, Any]]:
    """UNet and VAE configurations at the size of the real RollingDepth model (Stable Diffusion 2 blocks: UNet
    channels 320/640/1280/1280 with 2 layers per block and 1024-wide text conditioning, about 866 M parameters;
    VAE channels 128/256/512/512), as the tiny test configurations with their sizes scaled up. The real checkpoint
    brings its own configuration; these only give random weights the real cost."""
    from core.models.rollingdepth.config import tiny_unet_config, tiny_vae_config

    unet = {**tiny_unet_config(cross_attention_dim=1024), "sample_size": 96,
            "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
            "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
            "attention_head_dim": [5, 10, 20, 20], "norm_num_groups": 32}
    vae = {**tiny_vae_config(), "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2,
           "norm_num_groups": 32, "sample_size": 768}
    return unet, vae


def rollingdepth(plan: Plan, report: dict[str, Any]) -> None:
    """Section ``rollingdepth``: ms per output frame of presets fast and full, random weights."""
    from core.depth.rollingdepth.model import random_model
    from core.depth.rollingdepth.pipeline import estimate_shot
    from core.depth.rollingdepth.presets import get_preset
    dev = torch.device(plan.device)
    if plan.rd_full_size:
        unet_config, vae_config = full_size_configs()
        model = random_model(0, "cpu", unet_config=unet_config, vae_config=vae_config)
        dtype = torch.float16
    else:
        model = random_model(0, "cpu")
        dtype = torch.float32
    model = replace(model, unet=model.unet.to(dev, dtype), vae=model.vae.to(dev, dtype),
                    text_embedding=model.text_embedding.to(dev, dtype))
    h, w = 432, 768
    yy, xx = np.mgrid[0:h, 0:w]
    frames = [np.stack([(xx + 4 * i) % 256, yy * 255 // h, np.full_like(xx, 60)], -1).astype(np.uint8)
              for i in range(plan.rd_frames)]
    report["rollingdepth"] = {"model": "full-size UNet/VAE, random weights" if plan.rd_full_size
                              else "tiny UNet/VAE, random weights", "dtype": str(dtype).removeprefix("torch."),
                              "frames": plan.rd_frames, "frame_size": f"{w}x{h}"}

    def preset(name: str):
        config = get_preset(name)
        return replace(config, precision="fp16" if plan.rd_full_size else "fp32",
                       resolution=plan.rd_resolution or config.resolution)

    for _ in estimate_shot(model, lambda: iter(frames[:3]), 3, preset("fast")):  # warm-up (kernels, allocator)
        pass
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    for name in ("fast", "full"):
        config = preset(name)
        t0 = time.perf_counter()
        for _ in estimate_shot(model, lambda: iter(frames), plan.rd_frames, config):
            pass
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - t0
        report["rollingdepth"][name] = {"ms_per_frame": 1000 * seconds / plan.rd_frames, "seconds": seconds,
                                        "resolution": config.resolution, "refine_steps": config.refine_steps}
    if dev.type == "cuda":
        report["rollingdepth"]["peak_vram_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20


def stream(plan: Plan, report: dict[str, Any], work: Path, weights: SyntheticWeights) -> None:
    """Section ``stream``: the streaming engine at batch 1 (one frame in, one out), when registered."""
    from core.depth import DepthJob, run_depth
    from core.depth.engines import ENGINES

    if "vda-stream" not in ENGINES:
        report["stream"] = {"available": False, "note": "the vda-stream engine is not in this checkout"}
        return
    model = "vda-s"  # the real-time claim (>= 30 frames/s at the default input size) is made for ViT-S
    w, h = plan.engine_size
    video = synthetic_video(work / "stream.mp4", plan.stream_frames, w, h)
    job = DepthJob(input=video, output=work / "stream_pass", engine="vda-stream", model=model,
                   weights=weights.checkpoint(work, ENCODERS[model]), input_size=plan.engine_input,
                   device=plan.device, shots=False)
    marks: list[tuple[float, int]] = []  # (time, frames done) of each depth frame out

    def heard(p) -> None:
        if p.stage == "depth":
            marks.append((time.perf_counter(), p.frames_done))

    t0 = time.perf_counter()
    run_depth(job, on_progress=heard)
    seconds = time.perf_counter() - t0
    fps = plan.stream_frames / seconds
    (t_first, first), (t_last, last) = (marks[0], marks[-1]) if marks else ((0.0, 0), (0.0, 0))
    steady = (last - first) / (t_last - t_first) if t_last > t_first else None
    report["stream"] = {"available": True, "frames": plan.stream_frames, "fps": fps, "steady_fps": steady,
                        "size": f"{w}x{h}", "model": model, "input_size": plan.engine_input,
                        "real_time": steady >= 30 if plan.device == "cuda" and steady is not None else None}


def _table(report: dict[str, Any]) -> list[str]:
    out = [f"device: {report['device']}; torch {report['torch']}" + ("" if report["gpu_measured"] else f"\n{NO_GPU}")]
    for enc, r in report.get("parity", {}).items():
        p = report["precision"].get(enc, {})
        out.append(f"parity {enc} fp32 T={r['frames']}: max {r['max_over_range']:.2e} mean {r['mean_over_range']:.2e}"
                   f" of range ({'pass' if r['pass'] else 'FAIL'}); fp16 max {p.get('fp16', {}).get('max_over_range', 0):.2e},"
                   f" bf16 max {p.get('bf16', {}).get('max_over_range', 0):.2e}")
    for name, r in report.get("throughput", {}).items():
        compiled = report.get("throughput_compile", {}).get(name, {}).get("auto_reuse_compiled_fps")
        out.append(f"{name} {r['size']}x{r['size']}: auto({r['auto_precision']}) {r['auto_reuse_fps']:.1f} frames/s, "
                   f"no reuse {r['auto_no_reuse_fps']:.1f}, fp16 {r['fp16_reuse_fps']:.1f}, fp32 {r['fp32_reuse_fps']:.1f}, "
                   f"compiled {compiled if compiled is None else round(compiled, 1)}; reference schedule fp16 "
                   f"{r['reference_schedule_fp16_fps']:.1f} (ratio {r['ratio_fp16_vs_reference']:.2f} fp16, "
                   f"{r['ratio_auto_vs_reference']:.2f} auto)"
                   + (f"; peak VRAM {max(r['peak_vram_mib'].values()):.0f} MiB" if "peak_vram_mib" in r else ""))
    for key in ("engine", "stereo"):
        if "fps" in report.get(key, {}):
            r = report[key]
            stages = ", ".join(f"{k} {v:.1f}" for k, v in r["fps"].items())
            out.append(f"{r['job']} {r['frames']} frames, frames/s: {stages}; bound by {r['slowest']}, "
                       f"whole/slowest {r['whole_over_slowest']:.2f}")
    rd = report.get("rollingdepth")
    if rd and "full" in rd:
        out.append(f"rollingdepth ({rd['model']}, {rd['dtype']}): fast {rd['fast']['ms_per_frame']:.0f} ms/frame, "
                   f"full {rd['full']['ms_per_frame']:.0f} ms/frame")
    if "fps" in report.get("stream", {}) or "note" in report.get("stream", {}):
        s = report["stream"]
        out.append(f"vda-stream: {s['fps']:.1f} frames/s whole pass, steady {s['steady_fps'] or 0:.1f}"
                   if s.get("available") else f"vda-stream: {s['note']}")
    for k, v in report["errors"].items():
        out.append(f"ERROR in {k}: {v.splitlines()[-1] if v else ''}")
    for k, v in report.get("throughput_compile", {}).items():
        if isinstance(v, dict) and "error" in v:
            out.append(f"ERROR in throughput_compile {k}: {v['error'].splitlines()[-1]}")
    if report.get("interrupted"):
        out.append(f"INTERRUPTED in {report['interrupted']}")
    out.append(f"total {report['seconds']:.0f} s")
    return out


def write_report(report: dict[str, Any], out: Path) -> None:
    """``report`` as JSON at ``out``, atomically (a reader never sees half a report)."""
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(report, indent=1, default=str))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(plan: Plan, sections: Sequence[str], budget_s: float, out: Path | None = None) -> dict[str, Any]:
    """Run ``sections`` of ``plan``; a section that fails is recorded in ``errors``, one that would start after
    ``budget_s`` seconds is recorded in ``skipped``. With ``out`` the report is written there after every section
    (and when interrupted: ``interrupted`` then names the section, and the KeyboardInterrupt goes on)."""
    dev = torch.device(plan.device)
    report: dict[str, Any] = {
        "gpu_measured": dev.type == "cuda",
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({platform.machine()})",
        "torch": torch.__version__, "cuda": torch.version.cuda, "plan": plan.__dict__ | {},
        "note": "" if dev.type == "cuda" else NO_GPU, "errors": {}, "skipped": [],
        "threads": torch.get_num_threads(), "section_seconds": {}, "running": None, "interrupted": None,
    }
    t0 = time.perf_counter()
    weights = SyntheticWeights(plan.fixtures)

    def save() -> None:
        report["seconds"] = time.perf_counter() - t0
        if out is not None:
            write_report(report, out)

    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        steps: list[tuple[str, str, Callable[[], None]]] = [  # (report key, the --sections name that selects it, run)
            ("parity", "parity", lambda: parity_and_precision(plan, report, weights)),
            ("throughput", "throughput", lambda: throughput(plan, report, weights)),
            ("engine", "engine", lambda: engine(plan, report, work, weights)),
            ("stereo", "stereo", lambda: stereo(plan, report, work)),
            ("rollingdepth", "rollingdepth", lambda: rollingdepth(plan, report)),
            ("stream", "stream", lambda: stream(plan, report, work, weights)),
            ("throughput_compile", "throughput",
             lambda: throughput_compiled(plan, report, weights, t0 + budget_s, save)),
        ]
        for key, name, step in steps:
            wanted = name in sections or (name == "parity" and "precision" in sections)
            if not wanted:
                continue
            if time.perf_counter() - t0 > budget_s:
                report["skipped"].append(key)
                continue
            log_t = time.perf_counter()
            report["running"] = key
            save()
            try:
                step()
            except KeyboardInterrupt:
                report["interrupted"] = key
                save()
                raise
            except Exception:  # recorded, and the other sections still run
                report["errors"][key] = traceback.format_exc()
            report["section_seconds"][key] = time.perf_counter() - log_t
            report["running"] = None
            save()
            print(f"[{key}: {report['section_seconds'][key]:.0f} s]", flush=True)
    save()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench gpu", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="JSON report to write")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                   help="auto: the GPU plan on CUDA, else the tiny CPU plan")
    p.add_argument("--budget-s", type=float, default=420.0, help="start no section after this many seconds")
    add_fixtures_argument(p)
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        raise DepthshotError("--device cuda: CUDA is not available")
    plan = replace(GPU_PLAN if cuda else CPU_PLAN, fixtures=fixtures_dir(args.fixtures))
    if not args.out.parent.is_dir():
        raise DepthshotError(f"--out {args.out}: no such folder {args.out.parent}")
    if not cuda:
        print(NO_GPU, flush=True)
        torch.set_num_threads(1)  # tiny tensors: more threads only contend (a 2-core CI box is 20x slower with 2)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a timeout's SIGTERM: keep the sections done (as Ctrl-C)
    try:
        report = run(plan, args.sections, args.budget_s, args.out)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("\n".join(_table(report)))
    failed = report["errors"] or any("error" in v for v in report.get("throughput_compile", {}).values()
                                     if isinstance(v, dict))
    return 1 if failed else 0
