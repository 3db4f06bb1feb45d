"""``python -m core.bench stereo-quality``: synthesised right views against the true ones, per fill, by region.

Renders the ray-cast test scenes of ``tests/stereo/scene.py`` (run from a checkout): three stills (``layered``:
slanted planes and thin sticks; ``floor``: a floor receding to the horizon; ``closeup``: a torus, a sphere and a
stick 0.9-1.1 m away, disparities up to ~62 px at 640 px) and a sideways camera dolly of the close-up scene (the
nearest objects move 1.5 px per frame at 640 px). For each fill (``stretch``, ``spatial``, ``temporal``) the right
view is synthesised from the left view and its exact disparity (``mode="right_only"``) and scored with
:func:`core.metrics.stereo.score_view` (PSNR in dB per region; the dolly column is the mean over its frames) and
:func:`core.metrics.stereo.trmse` (flicker, 8-bit levels, the dolly only). The stills see the temporal fill with
no history, so it equals the spatial one there. Then each fill's ms per 1080p right view on the CPU (and CUDA).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from core.errors import DepthshotError
from core.metrics.stereo import REGIONS, score_view, trmse
from core.stereo.warp import FILLS, ViewSynthesizer

ROOT = Path(__file__).resolve().parents[2]


def _scene_module():
    """The test scenes live with the tests; they are importable from a checkout."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from tests.stereo import scene
    except ImportError as exc:
        raise DepthshotError(f"the stereo test scenes (tests/stereo/scene.py) are needed: {exc}") from None
    return scene


def _render(name: str, index: int, make, cache: Path | None) -> dict[str, np.ndarray]:
    """One rendered view (as a dict of arrays), from ``cache`` when it holds it."""
    path = cache / f"{name}_{index:02d}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path) as z:
            return dict(z)
    view = asdict(_scene_module().render_view(make()))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **view)
    return view


def _right(synth: ViewSynthesizer, view: dict[str, np.ndarray], device: str) -> np.ndarray:
    img = torch.from_numpy(view["left"]).to(device).permute(2, 0, 1)
    _, right = synth(img, torch.from_numpy(view["disparity"]).to(device))
    return right.clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def score_scenes(width: int, height: int, frames: int, fills: Sequence[str], cache: Path | None,
                 device: str = "cpu") -> dict[str, dict[str, dict[str, float]]]:
    """``{fill: {scene: {region: PSNR dB, ..., "trmse": ...}}}`` for the stills and the dolly (mean of frames)."""
    scene = _scene_module()
    out: dict[str, dict[str, dict[str, float]]] = {f: {} for f in fills}
    for name, make in scene.STILLS.items():
        view = _render(f"{name}_{width}", 0, lambda m=make: m(width, height), cache)
        for fill in fills:
            s = score_view(_right(ViewSynthesizer("right_only", fill), view, device), view["right"],
                           view["covisible"], view["right_disparity"])
            out[fill][name] = {r: s[r].psnr for r in REGIONS}
    if frames > 0:
        seq = scene.dolly_sequence(width, height, frames)
        views = [_render(f"dolly_{width}", k, lambda sc=sc: sc, cache) for k, sc in enumerate(seq)]
        for fill in fills:
            synth = ViewSynthesizer("right_only", fill)
            preds = [_right(synth, v, device) for v in views]
            per = [score_view(p, v["right"], v["covisible"], v["right_disparity"]) for p, v in zip(preds, views)]
            row = {r: float(np.nanmean([s[r].psnr for s in per])) for r in REGIONS}
            row["trmse"] = trmse((p, v["right"]) for p, v in zip(preds, views))
            out[fill]["dolly"] = row
    return out


def time_fill(fill: str, device: str, repeat: int) -> float:
    """Median ms to synthesise one 1080p right view with ``fill`` (a temporal fill carrying the previous frame)."""
    from core.bench.stereo import median_ms, synthetic_frame

    image, disparity = (t.to(device) for t in synthetic_frame())
    synth = ViewSynthesizer("right_only", fill)
    return median_ms(lambda: synth(image, disparity), device, repeat)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench stereo-quality", description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--frames", type=int, default=24, help="dolly frames (0 = stills only; default 24)")
    p.add_argument("--fills", default=",".join(FILLS), help="comma-separated (default: all)")
    p.add_argument("--cache", type=Path, help="folder keeping the rendered scenes between runs")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per fill (0 = skip the timing; default 3)")
    args = p.parse_args(argv)
    fills = [f.strip() for f in args.fills.split(",") if f.strip()]
    bad = [f for f in fills if f not in FILLS]
    if bad or not fills:
        raise DepthshotError(f"unknown fill {', '.join(bad) or '(none)'} (choose from {', '.join(FILLS)})")
    if args.width < 32 or args.height < 18 or args.frames < 0 or args.repeat < 0:
        raise DepthshotError("--width >= 32, --height >= 18, --frames >= 0 and --repeat >= 0 please")
    scores = score_scenes(args.width, args.height, args.frames, fills, args.cache)
    scenes = list(next(iter(scores.values())))
    print(f"right view from the left one and its exact disparity, {args.width}x{args.height}, PSNR dB "
          f"(dolly: mean of {args.frames} frames)")
    print("| fill | region | " + " | ".join(scenes) + " |")
    print("|---|---|" + "---|" * len(scenes))
    for fill in fills:
        for region in (*REGIONS, "trmse"):
            cells = [scores[fill][s].get(region) for s in scenes]
            if all(c is None for c in cells):
                continue
            print(f"| {fill} | {region} | " + " | ".join("" if c is None else f"{c:.2f}" for c in cells) + " |")
    if args.repeat:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            for fill in fills:
                print(f"{fill}: {time_fill(fill, device, args.repeat):.0f} ms per 1080p right view ({device}, "
                      f"{torch.get_num_threads()} threads)")
    return 0
