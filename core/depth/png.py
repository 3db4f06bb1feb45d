"""Greyscale PNG files of a depth pass (16-bit depth frames, 8-bit validity masks), written fast.

A standard PNG (colour type 0, bit depth 8 or 16, no interlace) that every reader decodes to the same pixel values
as before: only how the bytes are compressed changed. Every row uses PNG's *Sub* filter (each byte minus the byte
one pixel to its left, which suits smooth depth), computed with numpy, and the zlib stream comes from ISA-L
(``isal``) at level 1, which on a 1920x1080 depth frame is about 4x faster than OpenCV's default PNG writer and
gives a file about half its size (measured in README, Speed and memory). The output depends only on the pixels
(and the ISA-L version), so a resumed job writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from isal import isal_zlib

from core.atomic import atomic_path

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_LEVEL = 1  # ISA-L level (0..3); 1 was the smallest file for the least time on depth frames
_SUB = 1  # PNG filter type Sub


def _chunk(tag: bytes, data: bytes) -> list[bytes]:
    """A PNG chunk as the parts to write: length, type + data, CRC of type + data."""
    crc = isal_zlib.crc32(data, isal_zlib.crc32(tag))
    return [struct.pack(">I", len(data)), tag, data, struct.pack(">I", crc)]


def sub_filtered(image: np.ndarray) -> np.ndarray:
    """uint8/uint16 [H, W] -> uint8 [H, 1 + W * bytes per pixel]: PNG scanlines (big-endian samples), each row
    led by its filter type (Sub) and holding each byte minus the one a pixel before it (mod 256)."""
    h, w = image.shape
    bpp = image.dtype.itemsize
    raw = np.ascontiguousarray(image, dtype=f">u{bpp}").view(np.uint8).reshape(h, w * bpp)
    rows = np.empty((h, 1 + w * bpp), np.uint8)
    rows[:, 0] = _SUB
    rows[:, 1 : 1 + bpp] = raw[:, :bpp]
    np.subtract(raw[:, bpp:], raw[:, :-bpp], out=rows[:, 1 + bpp :])
    return rows


def encode_png(image: np.ndarray) -> list[bytes]:
    """The PNG file of greyscale ``image`` (uint8 or uint16 [H, W]) as byte strings to write in order."""
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16) or 0 in image.shape:
        raise ValueError(f"a greyscale PNG needs a non-empty uint8/uint16 [H, W] image, got {image.dtype} {image.shape}")
    h, w = image.shape
    header = struct.pack(">IIBBBBB", w, h, 8 * image.dtype.itemsize, 0, 0, 0, 0)
    data = isal_zlib.compress(sub_filtered(image), _LEVEL)
    return [_SIGNATURE, *_chunk(b"IHDR", header), *_chunk(b"IDAT", data), *_chunk(b"IEND", b"")]


def write_png(path: Path, image: np.ndarray | list[bytes]) -> None:
    """Write greyscale ``image`` (uint8/uint16 [H, W], or what ``encode_png`` made of one) to ``path`` as a PNG,
    atomically."""
    parts = image if isinstance(image, list) else encode_png(image)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.writelines(parts)
