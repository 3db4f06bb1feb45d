"""``python -m core.bench video``: decode and encode speed of ``core.video`` at 720p and 1080p (frames/s).

Frames are synthetic (a moving colour gradient with fine texture), encoded with ``VideoWriter`` and decoded back
to RGB uint8 with ``read_frames``; the table is printed on stdout.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.video import EncodeSettings, VideoWriter, read_frames

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def synthetic_frame(i: int, width: int, height: int) -> np.ndarray:
    """Frame ``i`` of a moving gradient with a fixed fine texture: ``(H, W, 3)`` uint8."""
    x = np.arange(width, dtype=np.float32)[None, :]
    y = np.arange(height, dtype=np.float32)[:, None]
    texture = ((np.sin(x * 0.7) * np.cos(y * 0.5)) * 12).astype(np.float32)
    r = (x + 4 * i) % 256 + texture
    g = (y + 2 * i) % 256 + texture
    b = ((x + y) * 0.5 + 3 * i) % 256
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def encode_fps(path: Path, frames: list[np.ndarray], settings: EncodeSettings) -> float:
    """Frames/s of encoding ``frames`` (already in memory) to ``path`` with ``settings``."""
    height, width = frames[0].shape[:2]
    begin = time.perf_counter()
    with VideoWriter(path, width, height, 30, settings) as out:
        for image in frames:
            out.write(image)
    return len(frames) / (time.perf_counter() - begin)


def decode_fps(path: Path, dtype: str = "uint8") -> float:
    """Frames/s of decoding ``path`` to RGB with ``read_frames`` (the file is read once first: warm cache)."""
    path.read_bytes()
    begin = time.perf_counter()
    count = sum(1 for _ in read_frames(path, dtype=dtype))
    return count / (time.perf_counter() - begin)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.bench video", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length at 30 fps (default 2)")
    parser.add_argument("--sizes", default="720p,1080p", help="comma-separated: 720p,1080p")
    parser.add_argument("--presets", default="ultrafast,veryfast,medium", help="x264 presets to time")
    args = parser.parse_args(argv)
    count = max(1, round(args.seconds * 30))
    presets = [p for p in args.presets.split(",") if p]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        for name in args.sizes.split(","):
            width, height = SIZES[name]
            frames = [synthetic_frame(i, width, height) for i in range(count)]
            row = {"size": name}
            for preset in presets:
                clip = Path(tmp) / f"{name}-{preset}.mp4"
                row[f"h264 {preset}"] = encode_fps(clip, frames, EncodeSettings(preset=preset, crf=18))
            row["ffv1"] = encode_fps(Path(tmp) / f"{name}.mkv", frames, EncodeSettings(codec="ffv1"))
            del frames
            decoded = Path(tmp) / f"{name}-{presets[0]}.mp4" if presets else Path(tmp) / f"{name}.mkv"
            row["decode uint8"] = decode_fps(decoded)
            row["decode float32"] = decode_fps(decoded, "float32")
            rows.append(row)
    print(f"core.video speed, frames/s ({count} frames per clip; {os.cpu_count()} CPUs, {platform.processor() or platform.machine()})")
    columns = list(rows[0])
    print(" | ".join(f"{c:>14}" for c in columns))
    for row in rows:
        print(" | ".join(f"{row[c]:>14}" if isinstance(row[c], str) else f"{row[c]:>14.1f}" for c in columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
