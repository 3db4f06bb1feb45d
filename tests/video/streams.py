"""Encoded container streams in memory (what a producer writes into a pipe), for the live-source tests."""

from __future__ import annotations

import io

import av
import numpy as np


def noise_frames(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` uint8 RGB frames [H, W, 3] of a smooth moving pattern plus noise (packets of a few kB each)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(n):
        base = 128 + 100 * np.sin((x + 3 * i) / 9.0) * np.cos(y / 7.0)
        img = base[..., None] + rng.normal(0, 20, size=(height, width, 3))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def encode_stream(frames: list[np.ndarray], fmt: str = "matroska", fps: int = 24) -> tuple[bytes, list[tuple[int, int]]]:
    """H.264 stream of ``frames`` in container ``fmt`` (matroska, mpegts), as a live muxer writes it.

    Returns the bytes and each video packet's ``(position, size)`` in them (where a cut lands inside a packet).
    """
    buf = io.BytesIO()
    h, w = frames[0].shape[:2]
    with av.open(buf, "w", format=fmt) as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    data = buf.getvalue()
    with av.open(io.BytesIO(data), format=fmt) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    return data, packets


def audio_only_stream(seconds: float = 1.0) -> bytes:
    """A Matroska stream with one AAC audio track and no video."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as c:
        s = c.add_stream("aac", rate=48000)
        n = 1024
        for i in range(int(seconds * 48000 / n)):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, n), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, i * n
            c.mux(s.encode(frame))
        c.mux(s.encode())
    return buf.getvalue()
