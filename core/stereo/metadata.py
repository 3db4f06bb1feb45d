"""Stereo metadata players read: file-name tags, H.264 frame-packing SEI, Matroska StereoMode, MP4 st3d/sv3d.

The MP4 spherical-video boxes (Google's Spherical Video V2: ``st3d`` stereo mode, ``sv3d`` with an equirectangular
``proj``) are added to the video sample entry of a finished MP4/MOV by rewriting its ``moov`` box
(:func:`add_spherical_boxes`, used as ``VideoWriter``'s ``post_process``); :func:`read_boxes` parses them back.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.errors import DepthshotError
from core.video import EncodeSettings

ST3D_MONO, ST3D_TOP_BOTTOM, ST3D_LEFT_RIGHT = 0, 1, 2


@dataclass(frozen=True)
class StereoTags:
    """What each layout tells players. ``frame_packing``: H.264 SEI arrangement type (3 = side by side,
    4 = top-bottom; None when the SEI cannot describe the layout); ``matroska``: StereoMode name."""

    file_tag: str
    matroska: str
    frame_packing: int | None
    st3d: int | None = None


TAGS: dict[str, StereoTags] = {
    "sbs_full": StereoTags("_LRF_Full_SBS", "left_right", 3),
    "sbs_half": StereoTags("_LR_Half_SBS", "left_right", 3),
    "tb_full": StereoTags("_TBF_Full_OU", "top_bottom", 4),
    "tb_half": StereoTags("_TB_Half_OU", "top_bottom", 4),
    "cross": StereoTags("_RLF_Cross", "right_left", None),  # the SEI's right-first flag is not settable in x264
    "anaglyph": StereoTags("_Anaglyph_RC", "anaglyph_cyan_red", None),
    "vr180": StereoTags("_180x180_LR", "left_right", 3, ST3D_LEFT_RIGHT),
}

_MP4_LIKE = (".mp4", ".mov", ".m4v")
_MATROSKA = (".mkv", ".webm")


def stereo_settings(layout: str, settings: EncodeSettings, suffix: str) -> EncodeSettings:
    """``settings`` with the layout's in-bitstream and container stereo signalling added for a ``suffix`` file.

    H.264 gets a frame-packing SEI (x264 ``frame-packing``); Matroska gets StereoMode. H.265 has no SEI here
    (libx265 does not write it), so .mkv or VR180 boxes carry the layout instead.
    """
    tags = TAGS[layout]
    codec_options = dict(settings.codec_options)
    if settings.codec == "h264" and tags.frame_packing is not None:
        params = [p for p in codec_options.get("x264-params", "").split(":") if p]
        params.append(f"frame-packing={tags.frame_packing}")
        codec_options["x264-params"] = ":".join(params)
    metadata = dict(settings.stream_metadata)
    if suffix.lower() in _MATROSKA:
        metadata["stereo_mode"] = tags.matroska
    return replace(settings, codec_options=codec_options, stream_metadata=metadata)


def spherical_post_process(layout: str, suffix: str) -> Callable[[Path], None] | None:
    """The ``VideoWriter`` post-process that writes st3d/sv3d for VR180 into MP4/MOV files (None otherwise)."""
    tags = TAGS[layout]
    if tags.st3d is None or suffix.lower() not in _MP4_LIKE:
        return None
    return lambda path: add_spherical_boxes(path, stereo_mode=tags.st3d, half_sphere=True)


# ---- a minimal ISO-BMFF box tree -----------------------------------------------------------------------------

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
            raise DepthshotError(f"malformed {child_type!r} box inside {box_type!r}")
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
            raise DepthshotError(f"{getattr(f, 'name', 'file')}: not a valid MP4 (bad {box_type!r} box)")
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
    """``st3d``: FullBox (version 0) + stereo_mode (0 mono, 1 top-bottom, 2 left-right)."""
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


def spherical_metadata(path: str | os.PathLike[str]) -> dict | None:
    """Read back the st3d/sv3d boxes of the first video track: ``{"stereo_mode", "bounds" (t, b, l, r)}`` or None."""
    moov = read_boxes(path).find("moov")
    for trak in moov.children if moov else []:
        stsd = trak.find("mdia/minf/stbl/stsd")
        entry = next((e for e in stsd.children if e.type.encode("latin-1") in _VISUAL_ENTRIES), None) if stsd else None
        if entry is None:
            continue
        st3d, equi = entry.find("st3d"), entry.find("sv3d/proj/equi")
        if st3d is None or equi is None:
            return None
        return {"stereo_mode": st3d.body[4], "bounds": struct.unpack(">IIII", equi.body[4:20])}
    return None


def add_spherical_boxes(path: str | os.PathLike[str], *, stereo_mode: int, half_sphere: bool) -> None:
    """Insert st3d + sv3d into every video sample entry of the MP4/MOV at ``path`` (rewritten atomically).

    When ``moov`` precedes the media data, the chunk offsets (stco/co64) are moved by the growth of ``moov``.
    """
    path = Path(path)
    with open(path, "rb") as f:
        top = _top_level(f)
        moov_at = next((i for i, b in enumerate(top) if b[0] == b"moov"), None)
        if moov_at is None:
            raise DepthshotError(f"{path}: no moov box, cannot add spherical metadata")
        _, offset, header, size = top[moov_at]
        f.seek(offset + header)
        moov = _parse(f.read(size - header), b"moov")
    touched = 0
    for trak in moov.children:
        stsd = trak.find("mdia/minf/stbl/stsd")
        for entry in stsd.children if stsd else []:
            if entry.type.encode("latin-1") in _VISUAL_ENTRIES:
                entry.children = [c for c in entry.children if c.type not in ("st3d", "sv3d")]
                entry.children += [st3d_box(stereo_mode), sv3d_box(half_sphere)]
                touched += 1
    if not touched:
        raise DepthshotError(f"{path}: no video sample entry found for spherical metadata")
    delta = len(moov.to_bytes()) - size
    if any(b[0] == b"mdat" and b[1] > offset for b in top):
        for trak in moov.children:
            _shift_chunk_offsets(trak, delta, offset)
    new_moov = moov.to_bytes()
    tmp = path.with_name(path.name + ".st3d")
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
            raise DepthshotError("unexpected end of file while rewriting MP4")
        dst.write(chunk)
        remaining -= len(chunk)
