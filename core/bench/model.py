"""Benchmark of the VDA network alone: ``python -m core.bench model [--fixtures DIR] [--repeats N] [--skip-cuda]``.

CPU: vits forward on a small clip (8 frames, 140x252) in fp32 and under bf16 autocast.
CUDA (when available): vits and vitl on 32-frame clips at 518x518, fp32 (TF32 off) and fp16/bf16 autocast, with the
deviation of the low precisions from fp32. Weights are the deterministic synthetic ones of the VDA fixtures
(``make_weights.py``, found beside the checkout by default), else a seeded random initialisation.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from core.bench._fixtures import add_fixtures_argument, default_fixtures, synthetic_state_dict
from core.models.vda import VideoDepthAnything
from core.models.vda.preprocess import MEAN, STD

logger = logging.getLogger(__name__)

DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class Measurement:
    """One configuration's throughput and, for fp16/bf16, its deviation from fp32 relative to fp32's range."""

    device: str
    encoder: str
    precision: str
    frames: int
    height: int
    width: int
    seconds: float
    max_dev: float | None = None
    mean_dev: float | None = None
    peak_gib: float | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds


def build_model(encoder: str, fixtures: Path | None) -> VideoDepthAnything:
    """vits/vitb/vitl with the fixtures' synthetic weights when ``fixtures`` holds them, else seeded random ones."""
    layout = fixtures / f"layout_{encoder}.json" if fixtures is not None else None
    if layout is not None and layout.is_file():
        with torch.device("meta"):
            model = VideoDepthAnything(encoder)
        model.load_state_dict(synthetic_state_dict(encoder, fixtures), strict=True, assign=True)
    else:
        logger.warning("no synthetic weights found (%s): using a random initialisation", fixtures)
        torch.manual_seed(0)
        model = VideoDepthAnything(encoder)
    return model.eval()


def synthetic_clip(frames: int, height: int, width: int) -> torch.Tensor:
    """(1, T, 3, H, W) normalised frames of a smooth moving pattern (image-like statistics, deterministic)."""
    t = torch.arange(frames, dtype=torch.float32)[:, None, None, None]
    y = torch.linspace(0, 1, height)[None, None, :, None]
    x = torch.linspace(0, 1, width)[None, None, None, :]
    phase = torch.tensor([0.0, 2.1, 4.2])[None, :, None, None]
    rgb = 0.5 + 0.25 * torch.sin(6 * x + 4 * y + 0.2 * t + phase) + 0.2 * torch.cos(9 * x * y - 0.1 * t + phase)
    mean = torch.tensor(MEAN)[None, :, None, None]
    std = torch.tensor(STD)[None, :, None, None]
    return ((rgb.clamp(0, 1) - mean) / std)[None]


def _run(model: VideoDepthAnything, clip: torch.Tensor, precision: str) -> torch.Tensor:
    dtype = DTYPES[precision]
    with torch.no_grad(), torch.autocast(clip.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        return model(clip)


def measure(model: VideoDepthAnything, clip: torch.Tensor, precision: str, repeats: int) -> tuple[float, torch.Tensor]:
    """Best wall time of ``repeats`` forwards after one warm-up (seconds), and the output (float32)."""
    sync = torch.cuda.synchronize if clip.device.type == "cuda" else (lambda: None)
    out = _run(model, clip, precision)
    sync()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        _run(model, clip, precision)
        sync()
        best = min(best, time.perf_counter() - start)
    return best, out.float()


def deviation(out: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """(max |out - ref|, mean |out - ref|) divided by the range of ``ref``."""
    value_range = float(ref.max() - ref.min())
    diff = (out - ref).abs()
    return float(diff.max()) / value_range, float(diff.mean()) / value_range


def bench_device(
    device: str, encoders: Sequence[str], frames: int, height: int, width: int,
    precisions: Sequence[str], repeats: int, fixtures: Path | None,
) -> list[Measurement]:
    """Throughput of each encoder x precision on ``device``; deviations are against that device's fp32 run."""
    results = []
    clip = synthetic_clip(frames, height, width).to(device)
    for encoder in encoders:
        model = build_model(encoder, fixtures).to(device)
        reference = None
        for precision in precisions:
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            seconds, out = measure(model, clip, precision, repeats)
            m = Measurement(device, encoder, precision, frames, height, width, seconds)
            if precision == "fp32":
                reference = out
            elif reference is not None:
                m.max_dev, m.mean_dev = deviation(out, reference)
            if device == "cuda":
                m.peak_gib = torch.cuda.max_memory_allocated() / 2**30
            logger.info("%s %s %s: %.2f frames/s", device, encoder, precision, m.fps)
            results.append(m)
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    return results


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"


def format_table(results: Sequence[Measurement]) -> str:
    """Markdown table of the measurements."""
    lines = [
        "| device | model | precision | clip | s / clip | frames/s | max dev / range | mean dev / range | peak GiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in results:
        peak = "-" if m.peak_gib is None else f"{m.peak_gib:.1f}"
        lines.append(
            f"| {m.device} | {m.encoder} | {m.precision} | {m.frames}x{m.height}x{m.width} | {m.seconds:.3f} "
            f"| {m.fps:.2f} | {_fmt(m.max_dev)} | {_fmt(m.mean_dev)} | {peak} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.bench model", description=__doc__.splitlines()[0])
    add_fixtures_argument(parser)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (best is reported)")
    parser.add_argument("--skip-cuda", action="store_true", help="CPU figures only")
    args = parser.parse_args(argv)
    folder = args.fixtures or default_fixtures()
    fixtures = folder if (folder / "make_weights.py").is_file() else None

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    results = bench_device("cpu", ["vits"], 8, 140, 252, ["fp32", "bf16"], args.repeats, fixtures)
    if torch.cuda.is_available() and not args.skip_cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        print(f"CUDA: {torch.cuda.get_device_name()}")
        precisions = ["fp32", "fp16", "bf16"]
        results += bench_device("cuda", ["vits", "vitl"], 32, 518, 518, precisions, args.repeats, fixtures)
    print(format_table(results))
    return 0
