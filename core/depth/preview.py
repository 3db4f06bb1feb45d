"""Colourised preview video of a depth pass, optionally side by side with the source video (RGB | depth)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.depth.depth_pass import DepthPass, Shot
from core.errors import DepthshotError


def colorize(inverse_depth: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """float [H, W] inverse depth (larger = nearer) -> uint8 RGB [H, W, 3] (turbo colour map, near = warm).

    lo, hi: the values mapped to the far and near ends of the map.
    """
    t = np.clip((inverse_depth.astype(np.float32) - lo) / max(hi - lo, 1e-12), 0, 1)
    grey = np.round(t * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)


def colorize_frame(depth: np.ndarray, shot: Shot, kind: str) -> np.ndarray:
    """A pass frame (raw values, float [H, W]) -> uint8 RGB [H, W, 3] over its shot's 2-98 % range.

    Metric depth is shown as inverse depth too, so both kinds look alike and near detail gets the colours.
    """
    if kind == "metric_depth":
        from core.geometry.camera import metric_to_inverse_depth

        inverse = metric_to_inverse_depth(depth)  # no measurement -> far
        return colorize(inverse, 1 / shot.p98, 1 / shot.p2)
    return colorize(depth, shot.p2, shot.p98)


def write_preview(depth_pass: DepthPass, path: Path, *, side_by_side: bool = False, crf: int = 23) -> Path:
    """Write the pass as an H.264 video (atomically), each frame coloured over its shot's 2-98% range.

    side_by_side: put the source video's frame on the left (the pass's ``source`` must be readable).
    """
    from core.video import EncodeSettings, VideoWriter, read_frames

    info = depth_pass.info
    w, h = info.width + info.width % 2, info.height + info.height % 2  # yuv420p needs even sizes
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
            img = colorize_frame(depth, depth_pass.shot_of(i), info.kind)
            if rgb is not None:
                img = np.concatenate([next(rgb).image, img], axis=1)
            img = np.pad(img, ((0, h - info.height), (0, (w - info.width) * (2 if side_by_side else 1)), (0, 0)),
                         mode="edge") if (w, h) != (info.width, info.height) else img
            out.write(np.ascontiguousarray(img))
    return path
