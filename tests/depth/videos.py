"""Synthetic test videos, encoded for real with PyAV."""

from __future__ import annotations

from pathlib import Path


def scene_frames(n: int, width: int, height: int, seed: int, start: int = 0):
    """``n`` frames of a slowly panning smooth synthetic scene (uint8 RGB [H, W, 3]); each seed has its own
    colours and layout, so two seeds back to back make a hard cut."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    tint = rng.uniform(0.2, 1.0, size=3)
    coarse = rng.uniform(0, 255, size=(6, 8)).astype(np.float32)
    big = cv2.resize(coarse, (width + 64, height + 64), interpolation=cv2.INTER_CUBIC)
    big = np.clip(big[..., None] * tint, 0, 255).astype(np.uint8)
    for i in range(start, start + n):
        yield np.ascontiguousarray(big[i // 2 % 64 : i // 2 % 64 + height, i % 64 : i % 64 + width])


def write_video(path: Path, frames, fps: int = 24) -> Path:
    """Encode frames with PyAV (H.264, lossless-ish crf 0, yuv444p) into ``path``."""
    import av

    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps, options={"crf": "0", "preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = w, h, "yuv444p"
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return path



def write_lossless_video(path: Path, frames, fps: int = 24) -> Path:
    """Encode RGB frames losslessly (FFV1, bgr0, Matroska): decoding gives back exactly these uint8 frames."""
    import av
    import numpy as np

    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "bgr0"
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
        c.mux(s.encode())
    return path
