"""Marking H.264 frame packing as "right view first" in x264's frame-packing SEI.

x264's ``frame-packing`` option always writes ``content_interpretation_type`` 1 (frame 0 = left view). A cross-eyed
pair packs the right view first, which the SEI says with type 2. The field sits at a fixed place near the start of
the SEI payload (after ``frame_packing_arrangement_id`` ue(v) = 0, the cancel flag, the 7-bit type and the quincunx
flag), so it is rewritten in place without changing any length.
"""

from __future__ import annotations

_SEI_NAL, _FRAME_PACKING = 6, 45


def _sei_number(nal: bytes, pos: int) -> tuple[int, int] | None:
    """An SEI payloadType/payloadSize at ``pos`` (0xFF bytes add 255 each) and the position after it; None at the
    end of ``nal``."""
    value = 0
    while pos < len(nal) and nal[pos] == 0xFF:
        value, pos = value + 255, pos + 1
    return (value + nal[pos], pos + 1) if pos < len(nal) else None


def _sei_payloads(nal: bytes) -> list[tuple[int, int]]:
    """(payloadType, offset of the payload in ``nal``) of each SEI message of an SEI NAL unit (header byte first)."""
    found, pos = [], 1
    while pos < len(nal) and nal[pos] != 0x80:  # 0x80: rbsp trailing bits
        kind = _sei_number(nal, pos)
        size = _sei_number(nal, kind[1]) if kind is not None else None
        if size is None:
            break
        found.append((kind[0], size[1]))
        pos = size[1] + size[0]  # emulation-prevention bytes are ignored: fine for x264's short leading messages
    return found


def right_first(data: bytes, length_size: int = 4) -> bytes | None:
    """``data`` (one H.264 access unit, NAL units with ``length_size``-byte big-endian lengths, as in MP4/MOV/MKV)
    with every side-by-side/top-bottom frame-packing SEI switched to "frame 0 is the right view"; None when the
    access unit has no such SEI (nothing to change)."""
    out, pos, changed = bytearray(data), 0, False
    while pos + length_size <= len(data):
        n = int.from_bytes(data[pos : pos + length_size], "big")
        start = pos + length_size
        nal = data[start : start + n]
        if nal and nal[0] & 0x1F == _SEI_NAL:
            for kind, at in _sei_payloads(nal):
                # byte 0: id ue(0) = '1', cancel '0', type bits 6..1; byte 1: type bit 0, quincunx, 6-bit interpretation
                if kind == _FRAME_PACKING and at + 1 < len(nal) and nal[at] & 0xC0 == 0x80 and nal[at + 1] & 0x3F == 1:
                    out[start + at + 1] = (nal[at + 1] & 0xC0) | 2
                    changed = True
        pos = start + n
    return bytes(out) if changed else None
