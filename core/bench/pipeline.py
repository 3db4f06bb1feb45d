"""``python -m core.bench pipeline``: is each long job as fast as its slowest stage? And the reference schedule.

For ``core.depth`` (a synthetic clip, default 1920x1080, with VDA-S synthetic weights at a small network input: a
cheap model setting) it times, in one run, each stage alone (decode; the engine on frames already in memory;
the depth-pass writer on the engine's maps, its shot end included: staging, then the shot's PNGs in ``close()``;
with its CPU ms per frame) and then the whole job (``run_depth``, shot detection off), with the whole job's tail:
the seconds from the last depth frame out of the engine to the job's end (what a one-shot clip's PNGs add after
the network). Then the whole job again with shot detection on (the default), beside the separate low-resolution
scan alone (decode at 256 px + AdaptiveDetector: what a job whose engine needs shot lengths, or a cluster job,
runs before any depth; local VDA jobs find the cuts in the engine's decode pass instead).
For ``core.stereo`` (synthetic clips at 640x360 and 1920x1080 with a synthetic depth pass) it times decode, depth
read + disparity, warp + pack, x264 encode alone and then ``run_stereo``. A job is as fast as its slowest stage when
whole / slowest is near 1 (the target is 1.15); the sum of the stages is what a serial job would take.

``--schedule`` compares, on the same frames, weights and threads, depthshot's steady-state depth throughput with
the reference's schedule of work (every window's 32 frames pre-processed and run through the whole network in one
call, no feature reuse; this repository's own code for both): time per window after the first, frames/s, ratio.

Figures are wall-clock seconds on a machine other jobs may be using: compare the ratios, which are measured in one
run, and repeat (``--repeat``: the minimum of the repeats is kept).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.bench._fixtures import ENCODERS, add_fixtures_argument, synthetic_weights
from core.bench.engine import synthetic_video
from core.errors import DepthshotError



@dataclass
class StageReport:
    """Seconds for ``frames`` frames of each stage alone and of the whole job, measured in one run."""

    job: str
    frames: int
    stages: dict[str, float]
    whole: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def slowest(self) -> str:
        return max(self.stages, key=self.stages.get)

    @property
    def ratio(self) -> float:
        """Whole job / slowest stage alone (1.0: the job runs at the speed of its slowest stage)."""
        return self.whole / self.stages[self.slowest]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "slowest": self.slowest, "whole_over_slowest": self.ratio,
                "whole_over_sum": self.whole / sum(self.stages.values()),
                "fps": {k: self.frames / v for k, v in {**self.stages, "whole": self.whole}.items()}}

    def lines(self) -> list[str]:
        out = [f"{self.job}: {self.frames} frames"]
        for name, s in {**self.stages, "whole job": self.whole}.items():
            out.append(f"  {name:<22} {s:8.2f} s  {self.frames / s:8.2f} frames/s")
        out.append(f"  whole / slowest stage ({self.slowest}) = {self.ratio:.2f}; "
                   f"whole / sum of stages = {self.whole / sum(self.stages.values()):.2f}")
        out += [f"  {k}: {v:.2f}" if isinstance(v, float) else f"  {k}: {v}" for k, v in self.extra.items()]
        return out


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _drain(items: Iterator[Any]) -> int:
    return sum(1 for _ in items)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- core.depth --------------------------------------------------------------------------------------------------
def load_model(model: str, weights: Path, device: str):
    """VDA ``model`` with ``weights`` on ``device`` (what the job loads)."""
    from core.models.weights import load_vda

    return load_vda(model, weights, device=device).model


def depth_pipeline(video: Path, weights: Path, work: Path, *, model: str = "vda-s", input_size: int = 70,
                   device: str = "cpu", precision: str = "auto") -> StageReport:
    """Stages of ``core.depth`` alone, then the whole job, on ``video`` (one shot, no cut detection); then the
    whole job with cut detection and the separate shot scan alone (see the module docstring)."""
    import dataclasses

    from core.depth import DepthJob, Progress, run_depth
    from core.depth.depth_pass import DepthPassWriter, PassInfo, default_png_workers
    from core.depth.engine import ShotDepth, VdaRunner
    from core.depth.shots import detect_cuts, flag_cuts, scan_size
    from core.devices import cpu_cores, cpu_left_free
    from core.video import probe, read_frames

    work.mkdir(parents=True, exist_ok=True)
    info = probe(video)
    dev = torch.device(device)
    decode = _timed(lambda: _drain(read_frames(video)))
    frames = [f.image for f in read_frames(video)]
    runner = VdaRunner(load_model(model, weights, device), input_size, device=device, precision=precision)
    kept: list[np.ndarray] = []

    def engine() -> None:
        shot = ShotDepth(runner, metric=False)
        for i, f in enumerate(frames):
            for _, d, _ in shot.push(f, i / 30):
                if len(kept) < 8:
                    kept.append(d.copy())
        for _, d, _ in shot.finish():
            if len(kept) < 8:
                kept.append(d.copy())
        _sync(dev)

    engine_s = _timed(engine)
    n = len(frames)
    ran = {"precision": runner.precision, "encode_batch": runner.encode_batch, "decode_chunk": runner.decode_chunk}
    del frames, runner, engine  # the whole job loads its own model: the peak VRAM below is the job's alone
    if dev.type == "cuda":
        torch.cuda.empty_cache()

    shot_end: list[float] = []

    def write() -> None:  # the whole stage: staging every frame, then the shot end (its PNGs) in close()
        w = DepthPassWriter(work / "writer", PassInfo(source="", fps=30.0, width=info.width, height=info.height,
                                                      kind="relative_inverse_depth"))
        w.begin_shot(0)
        for i in range(n):
            w.write(i, kept[i % len(kept)], i / 30)
        shot_end.append(_timed(w.close))

    cpu0 = _cpu_seconds()
    writer_s = _timed(write)
    writer_cpu_ms = (_cpu_seconds() - cpu0) / n * 1000
    job = DepthJob(input=video, output=work / "pass", model=model, weights=weights, input_size=input_size,
                   precision=precision, device=device, shots=False)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    marks: dict[str, float] = {}

    def heard(p: Progress) -> None:  # the last report of a depth frame (out of the engine), and the job's end
        marks[p.stage] = time.perf_counter()

    cpu0 = _cpu_seconds()
    whole = _timed(lambda: run_depth(job, on_progress=heard))
    whole_cpu = _cpu_seconds() - cpu0
    with_shots = _timed(lambda: run_depth(dataclasses.replace(job, output=work / "shots", shots=True)))
    scan_s = _timed(lambda: detect_cuts(f.image for f in read_frames(video, size=scan_size(info.width, info.height))))
    decoded = list(read_frames(video))
    flag_s = _timed(lambda: _drain(flag_cuts(decoded, scan_size(info.width, info.height))))
    del decoded
    pngs = sorted((work / "pass" / "depth").glob("*.png"))
    cores = cpu_cores()
    extra: dict[str, Any] = {"whole job CPU s (all threads)": whole_cpu,
                             f"whole / (CPU s / {cores} cores): 1 = every core busy": whole / (whole_cpu / cores),
                             "writer CPU ms/frame": writer_cpu_ms,
                             "writer shot end alone (PNGs) s": shot_end[0],
                             "whole job: last depth frame to done s": marks["done"] - marks["depth"],
                             "whole job with shot detection s": with_shots,
                             "shot detection's cost in the whole job s": with_shots - whole,
                             "separate shot scan alone s": scan_s,
                             "cut detection on decoded frames alone s": flag_s,
                             "PNG MB/frame": sum(f.stat().st_size for f in pngs) / len(pngs) / 1e6,
                             "PNG workers": default_png_workers(),
                             "PNGs encoded ahead (a core left free)": cpu_left_free(str(dev)),
                             **ran,
                             "size": f"{info.width}x{info.height}", "input_size": input_size, "model": model}
    if dev.type == "cuda":
        extra["peak VRAM MiB (whole job)"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return StageReport("core.depth", n, {"decode": decode, "engine (network)": engine_s, "depth-pass writer": writer_s},
                       whole, extra)


# -- core.stereo -------------------------------------------------------------------------------------------------
def synthetic_pass(folder: Path, frames: int, width: int, height: int) -> Path:
    """A relative depth pass of ``frames`` smooth maps (a tilted floor and a moving round object)."""
    from core.depth.depth_pass import DepthPassWriter, PassInfo

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    w = DepthPassWriter(folder, PassInfo(source="", fps=30.0, width=width, height=height,
                                         kind="relative_inverse_depth"))
    w.begin_shot(0)
    for i in range(frames):
        d = 1 + y / height
        d[(x - width * (0.3 + 0.004 * i)) ** 2 + (y - height / 2) ** 2 < (height / 5) ** 2] = 2.5
        w.write(i, d, i / 30)
    w.close()
    return folder


def stereo_pipeline(width: int, height: int, frames: int, work: Path, device: str = "cpu",
                    preset: str = "veryfast") -> StageReport:
    """Stages of ``core.stereo`` (sbs_full) alone, then the whole job, on a synthetic clip of that size."""
    from core.stereo.convert import StereoJob, _stages, _to_output, run_stereo
    from core.video import EncodeSettings, VideoWriter, probe, read_frames

    work.mkdir(parents=True, exist_ok=True)
    video = synthetic_video(work / f"stereo_{width}x{height}.mp4", frames, width, height)
    depth = synthetic_pass(work / f"depth_{width}x{height}", frames, width, height)
    job = StereoJob(input=video, depth=depth, output=work / f"sbs_{width}x{height}.mp4",
                    settings=EncodeSettings(preset=preset), device=device)
    info = probe(video)
    dev = torch.device(device)
    _, synth, packer = _stages(job, info, depth, dev)
    decode = _timed(lambda: _drain(read_frames(video)))
    decoded = list(read_frames(video))
    prepared = []
    prepare = _timed(lambda: prepared.extend(synth.prepare(f) for f in decoded))
    rendered: list[np.ndarray] = []

    def render() -> None:
        for f, disparity in prepared:
            out = _to_output(synth.render(f, disparity, packer), False)
            if len(rendered) < 8:
                rendered.append(out)
        _sync(dev)

    render_s = _timed(render)
    del prepared, decoded
    w, h = packer.size

    def encode() -> None:
        with VideoWriter(work / f"enc_{width}x{height}.mp4", w, h, info.rate, EncodeSettings(preset=preset)) as out:
            for i in range(frames):
                out.write(rendered[i % len(rendered)])

    encode_s = _timed(encode)
    whole = _timed(lambda: run_stereo(job))
    return StageReport(f"core.stereo {width}x{height}", frames,
                       {"decode": decode, "depth read + disparity": prepare, "warp + pack": render_s,
                        "x264 encode": encode_s}, whole, {"x264 preset": preset, "device": device})


# -- the reference schedule --------------------------------------------------------------------------------------
def reference_windows(model, frames: np.ndarray, input_size: int, device: str, precision: str) -> list[float]:
    """Seconds per window of the reference's schedule: all frames pre-processed first, then per window its 32
    network inputs (positions 0..9 taken from the previous window's inputs at the key positions) through the whole
    network in one call, resized to the frame size; stitching after the last window (not timed: both schedules
    stitch the same way)."""
    from core.depth.engine import VdaRunner, resolve_precision
    from core.depth.windows import KEY_POSITIONS, OVERLAP, STEP, WINDOW
    from core.models.vda.preprocess import preprocess

    dev = torch.device(device)
    precision = resolve_precision(precision, dev)
    height, width = frames.shape[1:3]
    n = len(frames)
    nwin = -(-n // STEP)
    padded = np.concatenate([frames, np.repeat(frames[-1:], nwin * STEP + OVERLAP - n, axis=0)])
    inputs = torch.cat([preprocess(padded[i : i + WINDOW], input_size, dev) for i in range(0, len(padded), WINDOW)])
    autocast = VdaRunner(model, input_size, device=device, precision=precision).autocast()  # the same precision
    times, previous = [], None
    with torch.inference_mode(), autocast:
        for k in range(nwin):
            t0 = time.perf_counter()
            x = inputs[k * STEP : k * STEP + WINDOW].clone()
            if previous is not None:
                x[:OVERLAP] = previous[list(KEY_POSITIONS)]
            out = model(x[None])[0].float()
            out = F.interpolate(out[:, None], size=(height, width), mode="bilinear", align_corners=True)[:, 0]
            out.cpu().numpy()
            previous = x
            times.append(time.perf_counter() - t0)
    return times


def depthshot_windows(model, frames: np.ndarray, input_size: int, device: str, precision: str,
                      reuse: bool = True, compile: bool = False) -> list[float]:
    """Seconds per window of depthshot's engine (``ShotDepth``: feature reuse, device pre-processing, batches
    sized by work, windows running ahead of the stitching), stitching included: the intervals between consecutive
    windows' frames coming out (the first also holds the second window's network, which runs before the first
    window's frames come out; the last window, whose frames come out right after its own stitching, is left
    out). Nothing synchronises the device in between: each window's frames come out when its download is done."""
    from core.depth.engine import ShotDepth, VdaRunner

    runner = VdaRunner(model, input_size, device=device, precision=precision, compile=compile)
    marks = [time.perf_counter()]
    shot = ShotDepth(runner, metric=False, reuse_features=reuse, on_window=lambda _: marks.append(time.perf_counter()))
    for i, f in enumerate(frames):
        shot.push(f, i / 30)
    shot.finish()
    return [b - a for a, b in zip(marks[:-2], marks[1:-1])]


def schedule_comparison(model, frames: np.ndarray, input_size: int, device: str, precision: str,
                        repeat: int = 1) -> dict[str, Any]:
    """Steady-state (windows after the first) frames/s of both schedules on the same frames, alternated
    ``repeat`` times; the best window time of each is kept."""
    from core.depth.windows import STEP

    ours, ref = [], []
    for _ in range(repeat):
        ours += depthshot_windows(model, frames, input_size, device, precision)[1:]
        ref += reference_windows(model, frames, input_size, device, precision)[1:]
    if not ours or not ref:
        raise DepthshotError("the schedule comparison needs at least 2 windows (more than 32 frames)")
    o, r = float(np.median(ours)), float(np.median(ref))
    return {"depthshot_s_per_window": o, "reference_s_per_window": r, "depthshot_fps": STEP / o,
            "reference_fps": STEP / r, "ratio": r / o, "windows_timed": len(ours), "min_ratio": min(ref) / min(ours)}


# -- the command -------------------------------------------------------------------------------------------------
def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise DepthshotError(f"size must be WxH, got {text!r}") from None
    return w, h


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench pipeline", description=__doc__.splitlines()[0])
    p.add_argument("--depth-size", type=_size, default=(1920, 1080), help="WxH of the core.depth clip")
    p.add_argument("--depth-frames", type=int, default=76, help="frames of the core.depth clip (76: 4 windows)")
    p.add_argument("--input-size", type=int, default=70, help="VDA network input size (cheap: 70)")
    p.add_argument("--model", default="vda-s", choices=tuple(ENCODERS))
    p.add_argument("--stereo-sizes", type=_size, nargs="*", default=[(640, 360), (1920, 1080)])
    p.add_argument("--stereo-frames", type=int, default=60)
    p.add_argument("--schedule", action="store_true", help="also compare with the reference schedule")
    p.add_argument("--schedule-size", type=_size, default=(448, 252), help="WxH of the schedule comparison clip")
    p.add_argument("--schedule-input-size", type=int, default=252)
    p.add_argument("--schedule-frames", type=int, default=76)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="auto")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the other cores decode and write)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--skip-depth", action="store_true")
    p.add_argument("--skip-stereo", action="store_true")
    p.add_argument("--json", type=Path, help="also write the figures here")
    add_fixtures_argument(p)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} torch thread(s), device {args.device}; wall-clock figures on a possibly shared machine")
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        tmp = Path(tmp)
        weights = synthetic_weights(tmp, ENCODERS[args.model], fixtures=args.fixtures)
        if not args.skip_depth:
            w, h = args.depth_size
            video = synthetic_video(tmp / "depth.mp4", args.depth_frames, w, h)
            runs = [depth_pipeline(video, weights, tmp / f"d{r}", model=args.model, input_size=args.input_size,
                                   device=args.device, precision=args.precision) for r in range(args.repeat)]
            best = min(runs, key=lambda r: r.ratio)
            print("\n".join(best.lines()), flush=True)
            result["depth"] = [r.to_json() for r in runs]
        if not args.skip_stereo:
            result["stereo"] = []
            for w, h in args.stereo_sizes:
                runs = [stereo_pipeline(w, h, args.stereo_frames, tmp / f"s{r}", device=args.device)
                        for r in range(args.repeat)]
                print("\n".join(min(runs, key=lambda r: r.ratio).lines()), flush=True)
                result["stereo"] += [r.to_json() for r in runs]
        if args.schedule:
            w, h = args.schedule_size
            video = synthetic_video(tmp / "schedule.mp4", args.schedule_frames, w, h)
            from core.video import read_frames

            frames = np.stack([f.image for f in read_frames(video)])
            cmp = schedule_comparison(load_model(args.model, weights, args.device), frames,
                                      args.schedule_input_size, args.device, args.precision, args.repeat)
            result["schedule"] = cmp
            print(f"steady-state depth, {args.model} {w}x{h} at input {args.schedule_input_size}: depthshot "
                  f"{cmp['depthshot_fps']:.2f} frames/s, reference schedule {cmp['reference_fps']:.2f} frames/s, "
                  f"ratio {cmp['ratio']:.2f} (median over {cmp['windows_timed']} windows; best-vs-best "
                  f"{cmp['min_ratio']:.2f})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0
