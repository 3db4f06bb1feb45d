"""Stereo signalling policy: which metadata each layout gets in each container (the layouts' rows are in
``core.stereo.layouts.LAYOUT_SPECS``; the container code that writes it is ``core.video``).

- file name: the layout's tag (``clip_3D_HSBS_LR_Half_SBS.mp4``), with Kodi's ``3D`` + mode token;
- H.264: the frame-packing SEI (x264 ``frame-packing``), side by side / top-bottom / VR180, and for cross-eyed
  side by side marked "right view first";
- Matroska: StereoMode (all layouts), DisplayWidth/Height of one eye un-squeezed for half layouts, and for VR180
  a Projection element (equirectangular 180x180);
- MP4/MOV, any codec: ``st3d`` (Spherical Video V2) for side by side / top-bottom / VR180, plus ``sv3d`` for VR180.
  Cross-eyed gets no ``st3d`` (it cannot say "right eye first": only the H.264 SEI tells), anaglyph none.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from core.stereo.layouts import LAYOUT_SPECS
from core.video import EncodeSettings, StereoSignal

log = logging.getLogger(__name__)

_MATROSKA = (".mkv", ".webm")


def stereo_settings(
    layout: str, settings: EncodeSettings, suffix: str, size: tuple[int, int] | None = None, bit_depth: int = 8
) -> EncodeSettings:
    """``settings`` with the layout's default chroma format and its in-bitstream and container stereo signalling
    for a ``suffix`` file whose packed frames are ``size`` (w, h), from a source of ``bit_depth`` bits.

    The default pixel format is what plays everywhere (4:2:0, 8-bit H.264 High, or H.265 Main10 for deeper
    sources); anaglyph in 4:2:0 gets a hint that ``--pix-fmt yuv444p`` keeps its red/cyan edges sharper.
    """
    spec = LAYOUT_SPECS[layout]
    codec = settings.resolved(bit_depth).codec
    if settings.pix_fmt is None and codec in ("h264", "h265"):
        settings = replace(settings, pix_fmt=spec.chroma + ("10le" if codec == "h265" and bit_depth > 8 else ""))
    settings = settings.resolved(bit_depth)
    if layout == "anaglyph" and settings.pix_fmt and "420" in settings.pix_fmt:
        log.info("anaglyph in %s: chroma subsampling softens red/cyan edges; --pix-fmt yuv444p keeps them (H.264 "
                 "High 4:4:4, which fewer players decode)", settings.pix_fmt)
    codec_options = dict(settings.codec_options)
    if settings.codec == "h264" and spec.frame_packing is not None:
        params = [p for p in codec_options.get("x264-params", "").split(":") if p]
        params.append(f"frame-packing={spec.frame_packing}")
        codec_options["x264-params"] = ":".join(params)
    metadata = dict(settings.stream_metadata)
    if suffix.lower() in _MATROSKA:
        metadata["stereo_mode"] = spec.matroska
    eye_display = size if spec.half and size is not None else None
    signal = StereoSignal(st3d=spec.st3d, spherical=spec.spherical, eye_display=eye_display,
                          right_first=spec.right_first)
    return replace(settings, codec_options=codec_options, stream_metadata=metadata, stereo=signal)
