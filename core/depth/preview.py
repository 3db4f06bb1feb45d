"""Colourised preview video of a depth pass, optionally side by side with the source video (RGB | depth)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.depth.depth_pass import DepthPass
from core.errors import DepthshotError


def colorize(depth: np.ndarray, lo: float, hi: float, near_is_high: bool = True) -> np.ndarray:
    """float [H, W] raw depth -> uint8 RGB [H, W, 3] (turbo colour map, near = warm).

    lo, hi: the raw values mapped to the ends of the map; near_is_high: True for inverse depth (larger = nearer),
    False for metric depth in metres.
    """
    t = np.clip((depth.astype(np.float32) - lo) / max(hi - lo, 1e-12), 0, 1)
    if not near_is_high:
        t = 1 - t
    grey = np.round(t * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)


def write_preview(depth_pass: DepthPass, path: Path, *, side_by_side: bool = False, crf: int = 23) -> Path:
    """Write the pass as an H.264 video (atomically), each frame coloured over its shot's 2-98% range.

    side_by_side: put the source video's frame on the left (the pass's ``source`` must be readable).
    """
    from core.video import EncodeSettings, VideoWriter, read_frames

    info = depth_pass.info
    w, h = info.width + info.width % 2, info.height + info.height % 2  # yuv420p needs even sizes
    near_is_high = info.kind == "relative_inverse_depth"
    rgb = None
    if side_by_side:
        start = info.model.get("start")
        end = info.model.get("end")
        source = depth_pass.source_path()
        if source is None:
            raise DepthshotError("the depth pass has no source video for a side-by-side preview")
        rgb = read_frames(source, start=start, end=end, size=(info.width, info.height))
    with VideoWriter(path, w * (2 if side_by_side else 1), h, info.fps, EncodeSettings(codec="h264", crf=crf)) as out:
        for i, depth in depth_pass.frames():
            shot = depth_pass.shot_of(i)
            img = colorize(depth, shot.p2, shot.p98, near_is_high)
            if rgb is not None:
                img = np.concatenate([next(rgb).image, img], axis=1)
            img = np.pad(img, ((0, h - info.height), (0, (w - info.width) * (2 if side_by_side else 1)), (0, 0)),
                         mode="edge") if (w, h) != (info.width, info.height) else img
            out.write(np.ascontiguousarray(img))
    return path
