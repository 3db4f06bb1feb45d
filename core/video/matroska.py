"""Setting a finished Matroska file's DisplayWidth/DisplayHeight in place (EBML, no remux).

FFmpeg's Matroska muxer writes one eye's display size for stereo files as the packed frame halved; for squeezed
(half side-by-side / top-bottom) layouts that is the wrong shape. ``set_display_size`` rewrites the two elements of
the first video track without moving anything else in the file: the track's reserved EBML Void absorbs a change of
length, and the Tracks element's CRC-32 is recomputed.
"""

from __future__ import annotations

import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from core.video.errors import VideoError

log = logging.getLogger(__name__)

_SEGMENT, _TRACKS, _TRACK_ENTRY, _VIDEO = 0x18538067, 0x1654AE6B, 0xAE, 0xE0
_DISPLAY_WIDTH, _DISPLAY_HEIGHT, _VOID, _CRC32 = 0x54B0, 0x54BA, 0xEC, 0xBF
_HEADER_READ = 1 << 20  # Tracks sits in the first kilobytes of an FFmpeg-written file


@dataclass
class _Element:
    id: int
    start: int  # offset of the ID
    data: int  # offset of the payload
    end: int  # offset after the payload
    size_length: int  # bytes of the size field


def _vint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value without the length marker, length) of the EBML variable-size integer at ``pos``."""
    first = buf[pos]
    length = 9 - first.bit_length() if first else 9
    if length > 8:
        raise VideoError("malformed EBML size")
    value = first & (0xFF >> length)
    for b in buf[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, length


def _element(buf: bytes, pos: int) -> _Element:
    first = buf[pos]
    id_length = 9 - first.bit_length() if first else 9
    if id_length > 4:
        raise VideoError("malformed EBML element ID")
    ident = int.from_bytes(buf[pos : pos + id_length], "big")
    size, size_length = _vint(buf, pos + id_length)
    data = pos + id_length + size_length
    unknown = size == (1 << (7 * size_length)) - 1
    return _Element(ident, pos, data, len(buf) if unknown else data + size, size_length)


def _children(buf: bytes, parent: _Element) -> list[_Element]:
    out, pos = [], parent.data
    while pos < min(parent.end, len(buf)) - 1:
        child = _element(buf, pos)
        out.append(child)
        pos = child.end
    return out


def _uint(ident: int, value: int, length: int) -> bytes:
    """An EBML unsigned-integer element with a payload of ``length`` bytes (a 1-byte size field)."""
    return ident.to_bytes(2 if ident > 0xFF else 1, "big") + bytes([0x80 | length]) + value.to_bytes(length, "big")


def _size_field(size: int, length: int) -> bytes:
    """``size`` as an EBML size field of exactly ``length`` bytes (ValueError when it does not fit)."""
    if size >= (1 << (7 * length)) - 1:
        raise ValueError("size does not fit")
    return ((1 << (7 * length)) | size).to_bytes(length, "big")


def _void(total: int) -> bytes:
    """An EBML Void element of exactly ``total`` (>= 2) bytes."""
    if total < 2:
        raise ValueError("a Void takes at least 2 bytes")
    length = 1 if total - 2 < 127 else 8
    return bytes([_VOID]) + _size_field(total - 1 - length, length) + bytes(total - 1 - length)


def set_display_size(path: str | os.PathLike[str], width: int, height: int) -> bool:
    """Set DisplayWidth/DisplayHeight of the first video track of the Matroska file at ``path`` to ``width`` x
    ``height`` in place. Returns False (file unchanged) when the track has no room for the change."""
    path = Path(path)
    with open(path, "rb") as f:
        buf = f.read(_HEADER_READ)
    pos = _element(buf, 0).end  # after the EBML header
    segment = _element(buf, pos)
    if segment.id != _SEGMENT:
        raise VideoError(f"{path}: not a Matroska file")
    tracks = next((e for e in _children(buf, segment) if e.id == _TRACKS), None)
    if tracks is None or tracks.end > len(buf):
        return False
    entries = [e for e in _children(buf, tracks) if e.id == _TRACK_ENTRY]
    for entry in entries:
        parts = _children(buf, entry)
        video = next((p for p in parts if p.id == _VIDEO), None)
        if video is None:
            continue
        void = next((p for p in parts if p.id == _VOID), None)
        room = (void.end - void.start) if void is not None else 0
        kept = b"".join(buf[c.start : c.end] for c in _children(buf, video) if c.id not in (_DISPLAY_WIDTH, _DISPLAY_HEIGHT))
        head = buf[video.start : video.data - video.size_length]
        for pad in (0, 1):  # a 1-byte leftover cannot be a Void: then store the width with a leading zero byte
            body = kept + _uint(_DISPLAY_WIDTH, width, _bytes(width) + pad) + _uint(_DISPLAY_HEIGHT, height, _bytes(height))
            try:
                new_video = head + _size_field(len(body), video.size_length) + body
            except ValueError:
                return False
            growth = len(new_video) - (video.end - video.start)
            if room - growth != 1:
                break
        if growth != 0 and not (growth == room or room - growth >= 2):
            log.warning("%s: no room to set the display size to %dx%d", path, width, height)
            return False
        pieces = []
        for p in parts:
            if p is video:
                pieces.append(new_video)
            elif p is void and growth:
                pieces.append(b"" if growth == room else _void(room - growth))
            else:
                pieces.append(buf[p.start : p.end])
        new_entry = b"".join(pieces)
        assert len(new_entry) == entry.end - entry.data
        patched = bytearray(buf[: tracks.end])
        patched[entry.data : entry.end] = new_entry
        crc = next((c for c in _children(bytes(patched), tracks) if c.id == _CRC32), None)
        if crc is not None:
            patched[crc.data : crc.end] = zlib.crc32(patched[crc.end : tracks.end]).to_bytes(4, "little")
        with open(path, "r+b") as f:
            f.seek(tracks.start)
            f.write(patched[tracks.start : tracks.end])
        return True
    return False


def _bytes(value: int) -> int:
    return max(1, (value.bit_length() + 7) // 8)
