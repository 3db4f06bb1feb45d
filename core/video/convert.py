"""Turning decoded ``av.VideoFrame``s into upright RGB arrays (colour matrix, range, rotation, size, bit depth)."""

from __future__ import annotations

import logging

import av
import numpy as np

log = logging.getLogger(__name__)

DTYPES = ("uint8", "float32")


def bit_depth(pix_fmt: str) -> int:
    """Bits per colour component of an FFmpeg pixel format (8 for ``yuv420p``, 10 for ``yuv420p10le``)."""
    return max(c.bits for c in av.VideoFormat(pix_fmt).components)


def has_alpha(pix_fmt: str) -> bool:
    """Whether an FFmpeg pixel format carries an alpha plane."""
    return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)


def quarter_turns(rotation: float) -> int:
    """Counter-clockwise quarter turns (0-3) that make a frame upright, from its display-matrix rotation (deg)."""
    turns = round(rotation / 90.0)
    if abs(rotation - 90.0 * turns) > 1.0:
        log.warning("display rotation %.1f deg is not a multiple of 90; using %d deg", rotation, 90 * turns)
    return turns % 4


def to_rgb(
    frame: av.VideoFrame,
    *,
    turns: int,
    size: tuple[int, int] | None = None,
    dtype: str = "uint8",
) -> np.ndarray:
    """Convert a decoded frame to an upright RGB image.

    Args:
        frame: decoded frame in any pixel format (8-16 bit YUV/RGB, gray, with or without alpha; alpha is dropped).
        turns: counter-clockwise quarter turns to apply (see ``quarter_turns``).
        size: ``(width, height)`` of the result, after rotation; ``None`` keeps the frame's size.
        dtype: ``"uint8"`` (0-255) or ``"float32"`` (0-1).

    Returns:
        ``(H, W, 3)`` RGB array of ``dtype``; sources deeper than 8 bits are converted through 16-bit RGB.
    """
    deep = bit_depth(frame.format.name) > 8
    width, height = frame.width, frame.height
    if size is not None:
        width, height = (size[1], size[0]) if turns % 2 else size
    rgb = frame.reformat(
        width=width,
        height=height,
        format="rgb48le" if deep else "rgb24",
        src_color_range=frame.color_range,
        interpolation="AREA",
    ).to_ndarray()
    if turns:
        rgb = np.ascontiguousarray(np.rot90(rgb, turns))
    if dtype == "float32":
        return rgb.astype(np.float32) * np.float32(1.0 / (65535.0 if deep else 255.0))
    if deep:
        return ((rgb.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return rgb
