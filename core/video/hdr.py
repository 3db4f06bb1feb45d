"""HDR10 static metadata (SMPTE ST 2086 mastering display + content light level): read from decoded frames,
written as x265 parameters (in-bitstream SEI) and, by the writers, as container side data."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import av

TRC_PQ, TRC_HLG = 16, 18  # AVColorTransferCharacteristic: SMPTE ST 2084 (PQ), ARIB STD-B67 (HLG)


@dataclass(frozen=True)
class HdrMetadata:
    """``primaries``: CIE 1931 (x, y) of the mastering display's red, green, blue; ``white_point``: (x, y);
    ``max_luminance``/``min_luminance``: cd/m2; ``max_cll``/``max_fall``: content light levels in cd/m2 (0 = unknown).
    """

    primaries: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    white_point: tuple[float, float]
    max_luminance: float
    min_luminance: float
    max_cll: int = 0
    max_fall: int = 0

    @classmethod
    def from_frame(cls, frame: av.VideoFrame) -> HdrMetadata | None:
        """The mastering display / content light level side data of a decoded frame (None without mastering
        display data)."""
        mastering = light = None
        for item in frame.side_data:
            if item.type == av.sidedata.sidedata.Type.MASTERING_DISPLAY_METADATA:
                mastering = bytes(item)
            elif item.type == av.sidedata.sidedata.Type.CONTENT_LIGHT_LEVEL:
                light = bytes(item)
        if mastering is None or len(mastering) < 88:
            return None
        # AVMasteringDisplayMetadata: 10 AVRationals (R, G, B, white x/y; min, max luminance), has_primaries,
        # has_luminance
        values = struct.unpack_from("<20i2i", mastering)
        ratios = [values[2 * k] / values[2 * k + 1] if values[2 * k + 1] else 0.0 for k in range(10)]
        if not (values[20] and values[21]):
            return None
        cll, fall = struct.unpack_from("<2I", light) if light is not None and len(light) >= 8 else (0, 0)
        return cls(
            primaries=((ratios[0], ratios[1]), (ratios[2], ratios[3]), (ratios[4], ratios[5])),
            white_point=(ratios[6], ratios[7]),
            min_luminance=ratios[8],
            max_luminance=ratios[9],
            max_cll=int(cll),
            max_fall=int(fall),
        )

    def x265_params(self) -> list[str]:
        """``master-display`` / ``max-cll`` x265 parameters (chromaticities in 0.00002, luminance in 0.0001 cd/m2)."""
        (rx, ry), (gx, gy), (bx, by) = self.primaries

        def xy(x: float, y: float) -> str:
            return f"({round(x * 50000)},{round(y * 50000)})"

        display = (
            f"G{xy(gx, gy)}B{xy(bx, by)}R{xy(rx, ry)}WP{xy(*self.white_point)}"
            f"L({round(self.max_luminance * 10000)},{round(self.min_luminance * 10000)})"
        )
        return [f"master-display={display}", f"max-cll={self.max_cll},{self.max_fall}"]
