"""A minimal ISO-BMFF (MP4/MOV) box reader and sample-entry rewriter.

``read_boxes`` parses a file's ``moov`` tree; ``add_sample_entry_boxes`` inserts boxes into the video sample entry
of a finished file (e.g. Spherical Video V2 ``st3d``/``sv3d``, HDR ``mdcv``/``clli``), moving the chunk offsets when
``moov`` comes first. What to write is the caller's policy (``core.stereo.metadata`` for stereo layouts,
the writers in ``core.video`` for HDR).
"""

from __future__ import annotations

import os
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from core.video.errors import VideoError
from core.video.hdr import HdrMetadata

if TYPE_CHECKING:
    from core.video.writer import StereoSignal

ST3D_MONO, ST3D_TOP_BOTTOM, ST3D_LEFT_RIGHT = 0, 1, 2


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex", b"sv3d", b"proj"}
_VISUAL_ENTRIES = {b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"av01", b"vp09", b"apch", b"apcn", b"FFV1"}
_VISUAL_ENTRY_FIELDS = 78  # SampleEntry (8) + VisualSampleEntry fields (70) before the child boxes
_STSD_FIELDS = 8  # FullBox header + entry_count


@dataclass
class Box:
    """One box: ``body`` is its own bytes before any children (the whole payload for a leaf box)."""

    type: str
    body: bytes = b""
    children: list[Box] = field(default_factory=list)

    def find(self, path: str) -> Box | None:
        """The first descendant at ``path`` (types joined by ``/``), or None."""
        head, _, rest = path.partition("/")
        for child in self.children:
            if child.type == head:
                found = child.find(rest) if rest else child
                if found is not None:
                    return found
        return None

    def to_bytes(self) -> bytes:
        payload = self.body + b"".join(c.to_bytes() for c in self.children)
        return struct.pack(">I4s", 8 + len(payload), self.type.encode("latin-1")) + payload


def _child_offset(box_type: bytes) -> int | None:
    if box_type in _CONTAINERS:
        return 0
    if box_type == b"stsd":
        return _STSD_FIELDS
    if box_type in _VISUAL_ENTRIES:
        return _VISUAL_ENTRY_FIELDS
    return None


def _parse(data: bytes, box_type: bytes) -> Box:
    start = _child_offset(box_type)
    if start is None or start > len(data):
        return Box(box_type.decode("latin-1"), data)
    box = Box(box_type.decode("latin-1"), data[:start])
    pos = start
    while pos + 8 <= len(data):
        size, child_type = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = len(data) - pos
        if size < header or pos + size > len(data):
            raise VideoError(f"malformed {child_type!r} box inside {box_type!r}")
        box.children.append(_parse(data[pos + header : pos + size], child_type))
        pos += size
    return box


def _top_level(f) -> list[tuple[bytes, int, int, int]]:
    """(type, offset, header size, total size) of each top-level box of the open file ``f``."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    boxes, pos = [], 0
    while pos + 8 <= end:
        f.seek(pos)
        size, box_type = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            size = struct.unpack(">Q", f.read(8))[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise VideoError(f"{getattr(f, 'name', 'file')}: not a valid MP4 (bad {box_type!r} box)")
        boxes.append((box_type, pos, header, size))
        pos += size
    return boxes


def read_boxes(path: str | os.PathLike[str]) -> Box:
    """Parse an MP4/MOV file's ``moov`` tree (other top-level boxes appear as empty leaves) under a root Box."""
    root = Box("root")
    with open(path, "rb") as f:
        for box_type, offset, header, size in _top_level(f):
            if box_type == b"moov":
                f.seek(offset + header)
                root.children.append(_parse(f.read(size - header), box_type))
            else:
                root.children.append(Box(box_type.decode("latin-1")))
    return root


def st3d_box(stereo_mode: int) -> Box:
    """``st3d`` (Spherical Video V2): FullBox (version 0) + stereo_mode (0 mono, 1 top-bottom, 2 left-right)."""
    return Box("st3d", struct.pack(">IB", 0, stereo_mode))


def sv3d_box(half_sphere: bool) -> Box:
    """``sv3d`` with an equirectangular projection; ``half_sphere`` crops a quarter from each side (180 x 180)."""
    side = 0x40000000 if half_sphere else 0  # 0.32 fixed point fraction of the full 360-degree width
    return Box(
        "sv3d",
        children=[
            Box("svhd", struct.pack(">I", 0) + b"depthshot\0"),
            Box(
                "proj",
                children=[
                    Box("prhd", struct.pack(">Iiii", 0, 0, 0, 0)),
                    Box("equi", struct.pack(">IIIII", 0, 0, 0, side, side)),
                ],
            ),
        ],
    )


def mdcv_box(hdr: HdrMetadata) -> Box:
    """``mdcv`` (ISO/IEC 23001-8 mastering display colour volume, SMPTE ST 2086): primaries G, B, R and the white
    point in 0.00002 units, max/min luminance in 0.0001 cd/m2."""
    (rx, ry), (gx, gy), (bx, by) = hdr.primaries
    chroma = [gx, gy, bx, by, rx, ry, *hdr.white_point]
    body = struct.pack(">8H", *(round(v * 50000) for v in chroma))
    return Box("mdcv", body + struct.pack(">II", round(hdr.max_luminance * 10000), round(hdr.min_luminance * 10000)))


def clli_box(hdr: HdrMetadata) -> Box:
    """``clli`` (content light level): MaxCLL and MaxFALL in cd/m2."""
    return Box("clli", struct.pack(">HH", hdr.max_cll, hdr.max_fall))


def signal_boxes(stereo: StereoSignal | None, hdr: HdrMetadata | None) -> list[Box]:
    """The sample-entry boxes that carry ``stereo`` (st3d, sv3d for VR180) and ``hdr`` (mdcv, clli) in MP4/MOV."""
    boxes = []
    if stereo is not None and stereo.st3d is not None:
        boxes.append(st3d_box(stereo.st3d))
        if stereo.spherical:
            boxes.append(sv3d_box(half_sphere=True))
    if hdr is not None:
        boxes.append(mdcv_box(hdr))
        if hdr.max_cll or hdr.max_fall:
            boxes.append(clli_box(hdr))
    return boxes


def spherical_metadata(path: str | os.PathLike[str]) -> dict | None:
    """Read back the st3d/sv3d boxes of the first video track: ``{"stereo_mode", "bounds" (t, b, l, r)}`` or None."""
    entry = video_sample_entry(read_boxes(path))
    if entry is None:
        return None
    st3d, equi = entry.find("st3d"), entry.find("sv3d/proj/equi")
    if st3d is None or equi is None:
        return None
    return {"stereo_mode": st3d.body[4], "bounds": struct.unpack(">IIII", equi.body[4:20])}


def video_sample_entry(root: Box) -> Box | None:
    """The sample entry (``avc1``, ``hvc1``, ...) of the first video track under ``root`` (see ``read_boxes``)."""
    moov = root.find("moov")
    for trak in moov.children if moov else []:
        stsd = trak.find("mdia/minf/stbl/stsd")
        for entry in stsd.children if stsd else []:
            if entry.type.encode("latin-1") in _VISUAL_ENTRIES:
                return entry
    return None


def add_sample_entry_boxes(path: str | os.PathLike[str], boxes: list[Box]) -> None:
    """Put ``boxes`` into every video sample entry of the MP4/MOV at ``path`` (replacing boxes of the same types),
    rewriting the file through a temporary copy.

    When ``moov`` precedes the media data, the chunk offsets (stco/co64) are moved by the growth of ``moov``.
    """
    path = Path(path)
    kinds = {b.type for b in boxes}
    with open(path, "rb") as f:
        top = _top_level(f)
        moov_at = next((i for i, b in enumerate(top) if b[0] == b"moov"), None)
        if moov_at is None:
            raise VideoError(f"{path}: no moov box, cannot add {', '.join(sorted(kinds))}")
        _, offset, header, size = top[moov_at]
        f.seek(offset + header)
        moov = _parse(f.read(size - header), b"moov")
    touched = 0
    for trak in moov.children:
        stsd = trak.find("mdia/minf/stbl/stsd")
        for entry in stsd.children if stsd else []:
            if entry.type.encode("latin-1") in _VISUAL_ENTRIES:
                entry.children = [c for c in entry.children if c.type not in kinds] + list(boxes)
                touched += 1
    if not touched:
        raise VideoError(f"{path}: no video sample entry found for {', '.join(sorted(kinds))}")
    delta = len(moov.to_bytes()) - size
    if any(b[0] == b"mdat" and b[1] > offset for b in top):
        for trak in moov.children:
            _shift_chunk_offsets(trak, delta, offset)
    new_moov = moov.to_bytes()
    tmp = path.with_name(path.name + ".boxes")
    try:
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            _copy_range(src, dst, 0, offset)
            dst.write(new_moov)
            src.seek(offset + size)
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _shift_chunk_offsets(box: Box, delta: int, after: int) -> None:
    if box.type in ("stco", "co64"):
        fmt = ">I" if box.type == "stco" else ">Q"
        width = struct.calcsize(fmt)
        (count,) = struct.unpack_from(">I", box.body, 4)
        body = bytearray(box.body)
        for k in range(count):
            at = 8 + k * width
            (value,) = struct.unpack_from(fmt, body, at)
            if value > after:
                struct.pack_into(fmt, body, at, value + delta)
        box.body = bytes(body)
    for child in box.children:
        _shift_chunk_offsets(child, delta, after)


def _copy_range(src, dst, start: int, length: int) -> None:
    src.seek(start)
    remaining = length
    while remaining:
        chunk = src.read(min(remaining, 1 << 20))
        if not chunk:
            raise VideoError("unexpected end of file while rewriting MP4")
        dst.write(chunk)
        remaining -= len(chunk)
