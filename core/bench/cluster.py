"""``python -m core.bench cluster``: a multi-shot ``--ray`` depth job with 1 and 2 local Ray workers against the
single process, and what the driver costs per shot and per frame.

One synthetic clip of ``--shots`` hard-cut shots (a panning tinted pattern each), VDA with the fixtures' synthetic
weights (or ``--weights``) on the CPU. Each worker count gets a fresh local Ray instance (``ray.init(num_cpus=N)``,
its start time printed apart) and runs the job twice: cold (worker processes start and load the engine) and warm
(the same workers, engine loaded: the steady state of a long job); the single process runs twice too (the second
after the imports, the engine loaded again: it loads per job) and its second run is the speedup's reference.
Per run: wall time, the shot tasks' own time (Ray's timeline, ``task::shot_task`` events), the driver's CPU
time, and the overhead per shot (wall minus task time divided by the workers, per shot: scheduling, the scan,
feeding the writer, the waits between). Each pass is checked to equal the single-process pass byte for byte.

A stereo segment task reports each frame it renders by yielding it (a Ray streaming generator,
``core.cluster.stereo``); the cost of that per frame is timed as a task yielding ``--progress-items`` counts to a
driver that waits on it as ``run_stereo_ray`` does, against a task that returns once.

The driver writes every frame of the pass (``RayShots._feed``: read the staged float32 frame back, quantise, PNG);
its cost per frame is timed at the clip's size and at ``--feed-size`` (1080p), which bounds the frames/s one driver
takes whatever the number of GPUs.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.bench._fixtures import add_model_arguments, model_weights
from core.bench.soak import tree_digest


def multi_shot_video(path: Path, shots: int, frames: int, width: int, height: int, fps: int = 24) -> Path:
    """``shots`` shots of ``frames`` frames each (``width`` x ``height``), hard cuts between them: each shot a
    smooth pattern of its own tint panning by a pixel per frame (H.264, crf 0)."""
    import cv2

    from core.video import EncodeSettings, VideoWriter

    with VideoWriter(path, width, height, fps, EncodeSettings(codec="h264", preset="ultrafast", crf=0)) as out:
        for shot in range(shots):
            rng = np.random.default_rng(shot + 1)
            coarse = rng.uniform(0, 255, (6, 8)).astype(np.float32)
            big = cv2.resize(coarse, (width + frames, height + frames), interpolation=cv2.INTER_CUBIC)
            big = np.clip(big[..., None] * rng.uniform(0.2, 1.0, 3), 0, 255).astype(np.uint8)
            for i in range(frames):
                out.write(np.ascontiguousarray(big[i // 2 : i // 2 + height, i : i + width]))
    return path


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _task_seconds(ray: Any, since_us: float) -> tuple[float, int]:
    """Total time (s) and count of the ``shot_task`` executions that began after ``since_us`` (Ray's timeline,
    µs since the epoch)."""
    events = [e for e in ray.timeline() if e.get("ph") == "X" and str(e.get("name", "")).endswith("shot_task")
              and float(e.get("ts", 0)) >= since_us]
    return sum(float(e["dur"]) for e in events) / 1e6, len(events)


def feed_cost(width: int, height: int, frames: int, folder: Path) -> dict[str, float]:
    """The driver's cost of writing one staged shot into the pass (``RayShots._feed``: read back each float32
    frame, quantise it, write its 16-bit PNG, 4 PNG threads), per frame: wall ms and CPU ms of this process.
    Needs Ray initialised (``RayShots`` connects to it)."""
    from core.cluster import RayOptions
    from core.cluster.depth import RayShots, stage_folder
    from core.depth.chunks import Chunk, ChunkJoin
    from core.depth.depth_pass import DepthPassWriter, PassInfo, stage_frame

    out = folder / f"feed_{width}x{height}"
    info = PassInfo(source="", fps=24.0, width=width, height=height, kind="relative_inverse_depth")
    writer = DepthPassWriter(out, info)  # first: a new pass clears its .work/, where the stages live
    stage = stage_folder(out, 0)
    stage.mkdir(parents=True)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(frames):  # as a task stages them
        stage_frame(stage / f"{i:06d}.npy", 1.0 + np.sin(xx / 37 + i / 5) + yy / height, i / 24)
    shots = RayShots(RayOptions())
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    shots._feed(writer, ChunkJoin(RayOptions.chunk_overlap, metric=False), Chunk(0, frames, 0, frames))
    writer.close()
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    return {"wall_ms": 1000 * wall / frames, "cpu_ms": 1000 * cpu / frames}


def _count_to(n: int) -> Any:
    for i in range(1, n + 1):
        yield i


def _returns(n: int) -> int:
    return n


def progress_cost(ray: Any, items: int) -> dict[str, float]:
    """ms per item of a task yielding ``items`` counts, each taken by the driver as ``run_stereo_ray`` takes a
    segment task's progress (``ray.wait`` on the generator, then ``next``, ``ray.get``), beyond a task returning
    once (each timed warm, after one run)."""
    gen, once = ray.remote(num_cpus=1)(_count_to), ray.remote(num_cpus=1)(_returns)
    timings = {}
    for name in ("yield", "once", "yield", "once"):  # the second of each: warm workers
        t0 = time.perf_counter()
        if name == "once":
            ray.get(once.remote(items))
        else:
            stream, last = gen.remote(items), 0
            while last < items:
                ready, _ = ray.wait([stream], num_returns=1, timeout=0.5)
                if ready:
                    last = ray.get(next(stream))
        timings[name] = time.perf_counter() - t0
    return {"per_item_ms": 1000 * (timings["yield"] - timings["once"]) / items}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench cluster", description=__doc__.splitlines()[0])
    p.add_argument("--shots", type=int, default=6)
    p.add_argument("--shot-frames", type=int, default=24, help="frames per shot (at least 15: shortest shot)")
    p.add_argument("--size", default="96x64", help="WxH of the synthetic video")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local Ray worker counts (CPUs)")
    p.add_argument("--feed-size", default="1920x1080", help="WxH at which the driver's writing is also timed")
    p.add_argument("--feed-frames", type=int, default=24)
    p.add_argument("--progress-items", type=int, default=2000, help="counts a task yields (progress cost)")
    add_model_arguments(p, input_size=70)
    args = p.parse_args(argv)
    import ray
    import torch

    from core.cluster import RayOptions
    from core.cluster.depth import run_depth_ray
    from core.depth import DepthJob, run_depth

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    feed_w, feed_h = (int(v) for v in args.feed_size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        tmp = Path(tmp)
        weights = model_weights(args, tmp)
        clip = multi_shot_video(tmp / "shots.mp4", args.shots, args.shot_frames, width, height)
        frames = args.shots * args.shot_frames

        def job(out: str) -> DepthJob:
            return DepthJob(input=clip, output=tmp / out, model=args.model, weights=weights,
                            input_size=args.input_size, precision=args.precision, device=args.device)

        singles = []
        for run in ("cold", "warm"):  # cold: the first in this process (imports, page cache); both load the engine
            t0 = time.perf_counter()
            ref = run_depth(job(f"single_{run}"))
            singles.append(time.perf_counter() - t0)
        single = singles[-1]
        from core.depth.depth_pass import DepthPass

        found = len(DepthPass.open(ref).info.shots)
        print(f"cluster: {args.shots} shots x {args.shot_frames} frames ({found} found by the scan), {width}x{height}, "
              f"{args.model} input {args.input_size}, {args.device}, {args.threads} torch thread(s) per process "
              f"or task")
        print(f"{'run':<24} {'wall s':>7} {'tasks s':>8} {'tasks':>6} {'overhead s/shot':>16} "
              f"{'driver CPU s/shot':>18} {'speedup':>8} {'same bytes':>10}")
        for run, wall in zip(("cold", "warm"), singles):
            print(f"{f'single process, {run}':<24} {wall:>7.2f} {'':>8} {'':>6} {'':>16} {'':>18} "
                  f"{single / wall:>8.2f} {'':>10}", flush=True)
        want = tree_digest(ref)
        feeds: dict[str, dict[str, float]] = {}
        for n in args.workers:
            t0 = time.perf_counter()
            ray.init(num_cpus=n * args.threads, include_dashboard=False, log_to_driver=False,
                     logging_level="WARNING")
            started = time.perf_counter() - t0
            try:
                for run in ("cold", "warm"):
                    since = time.time() * 1e6
                    cpu0, t0 = _cpu_seconds(), time.perf_counter()
                    out = run_depth_ray(job(f"ray{n}_{run}"), RayOptions(cpus_per_task=float(args.threads)))
                    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
                    time.sleep(2.0)  # the workers report their task events to Ray about once a second
                    tasks, count = _task_seconds(ray, since)
                    overhead = (wall - tasks / n) / args.shots
                    same = tree_digest(out) == want
                    print(f"{f'ray {n} worker(s), {run}':<24} {wall:>7.2f} {tasks:>8.2f} {count:>6} {overhead:>16.2f} "
                          f"{cpu / args.shots:>18.3f} {single / wall:>8.2f} {str(same):>10}", flush=True)
                print(f"{'':<24} (ray.init with {n} CPU(s): {started:.1f} s, not in the wall times)")
                if not feeds:
                    feeds = {f"{w}x{h}": feed_cost(w, h, k, tmp) for w, h, k in
                             ((width, height, frames), (feed_w, feed_h, args.feed_frames))}
                    progress = progress_cost(ray, args.progress_items)
            finally:
                ray.shutdown()
        print("the driver writing the pass (RayShots._feed: read back, quantise, 16-bit PNG), per frame:")
        for size, cost in feeds.items():
            print(f"  {size:>10}: {cost['wall_ms']:.2f} ms wall, {cost['cpu_ms']:.2f} ms CPU "
                  f"(one driver takes at most {1000 / cost['wall_ms']:.0f} frames/s)")
        print(f"a stereo task's progress (a streaming generator's yield, taken by the driver): "
              f"{progress['per_item_ms']:.3f} ms per frame ({args.progress_items} frames)")
    return 0
