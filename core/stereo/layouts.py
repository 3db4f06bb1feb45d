"""Stereo layouts: the one table of what each layout is and how players are told (``LAYOUT_SPECS``), and packing
a stereo pair into one frame: side-by-side, top-bottom, cross-eyed, anaglyph, VR180.

Eyes are (3, H, W) float tensors in [0, 1] on any device; the packed frame is (3, H', W') on the same device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from core.errors import DepthshotError


@dataclass(frozen=True)
class LayoutSpec:
    """Everything about one stereo layout, in one place (adding a layout = one row of ``LAYOUT_SPECS``).

    ``arrangement``: "side_by_side", "top_bottom", "anaglyph" or "equirect" (VR180: side by side 180x180 eyes);
    ``half``: each eye squeezed to half the width/height; ``right_first``: the right eye is packed first (cross-eyed).
    Signalling: ``file_tag`` (file name suffix; includes Kodi's ``3D`` + ``SBS``/``HSBS``/``TAB``/``HTAB`` tokens
    where a 3D TV mode applies, ``kodi``), ``matroska`` (StereoMode name), ``frame_packing`` (H.264
    frame-packing SEI arrangement: 3 side by side, 4 top-bottom; None when the SEI cannot say it), ``st3d``
    (MP4/MOV Spherical Video V2 stereo mode: 1 top-bottom, 2 left-right; None: no MP4 signal means this layout),
    ``spherical`` (sv3d / Matroska Projection: 180x180 equirectangular); ``chroma``: the default H.264/H.265 chroma
    format (yuv420p: what plays everywhere).
    """

    name: str
    arrangement: Literal["side_by_side", "top_bottom", "anaglyph", "equirect"]
    file_tag: str
    matroska: str
    frame_packing: int | None
    st3d: int | None
    kodi: str | None = None
    half: bool = False
    right_first: bool = False
    spherical: bool = False
    chroma: str = "yuv420p"


ST3D_TOP_BOTTOM, ST3D_LEFT_RIGHT = 1, 2

LAYOUT_SPECS: dict[str, LayoutSpec] = {
    spec.name: spec
    for spec in (
        LayoutSpec("sbs_full", "side_by_side", "_3D_LRF_Full_SBS", "left_right", 3, ST3D_LEFT_RIGHT, kodi="SBS"),
        LayoutSpec("sbs_half", "side_by_side", "_3D_HSBS_LR_Half_SBS", "left_right", 3, ST3D_LEFT_RIGHT,
                   kodi="HSBS", half=True),
        LayoutSpec("tb_full", "top_bottom", "_3D_TAB_TBF_Full_OU", "top_bottom", 4, ST3D_TOP_BOTTOM, kodi="TAB"),
        LayoutSpec("tb_half", "top_bottom", "_3D_HTAB_TB_Half_OU", "top_bottom", 4, ST3D_TOP_BOTTOM,
                   kodi="HTAB", half=True),
        # free-viewing pair: no 3D TV mode; st3d cannot say "right eye first", the H.264 SEI can (type 2)
        LayoutSpec("cross", "side_by_side", "_RLF_Cross", "right_left", 3, None, right_first=True),
        LayoutSpec("anaglyph", "anaglyph", "_Anaglyph_RC", "anaglyph_cyan_red", None, None),
        LayoutSpec("vr180", "equirect", "_180x180_LR", "left_right", 3, ST3D_LEFT_RIGHT, spherical=True),
    )
}
LAYOUTS: tuple[str, ...] = tuple(LAYOUT_SPECS)
Layout = Literal["sbs_full", "sbs_half", "tb_full", "tb_half", "cross", "anaglyph", "vr180"]
VR_EYE_MAX = 2048
"""Largest default VR180 eye size (px); the default keeps the source's pixels per degree up to this."""

# Dubois' least-squares red-cyan anaglyph matrices (rows: output R, G, B; columns: eye R, G, B), linear light
_DUBOIS_LEFT = [[0.456, 0.500, 0.176], [-0.040, -0.038, -0.016], [-0.015, -0.021, -0.005]]
_DUBOIS_RIGHT = [[-0.043, -0.088, -0.002], [0.378, 0.734, -0.018], [-0.072, -0.113, 1.226]]


def vr_eye_size(width: int, hfov_deg: float) -> int:
    """Default side (px, even) of one VR180 eye: the source's pixels per degree over 180 degrees, capped."""
    return min(VR_EYE_MAX, 2 * round(width * 180.0 / hfov_deg / 2))


class Packer:
    """Packs (left, right) eyes of ``width x height`` into one frame of ``self.size`` (w, h) in ``layout``.

    ``hfov_deg``: the camera's horizontal field of view (VR180 only); ``eye_size``: VR180 eye side in px
    (default :func:`vr_eye_size`).
    """

    def __init__(
        self,
        layout: str,
        width: int,
        height: int,
        *,
        hfov_deg: float | None = None,
        eye_size: int | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        if layout not in LAYOUT_SPECS:
            raise DepthshotError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
        spec = LAYOUT_SPECS[layout]
        if spec.half and (width if spec.arrangement == "side_by_side" else height) < 2:
            raise DepthshotError(f"{width}x{height} is too small for {layout}")
        self.layout, self.spec, self.width, self.height = layout, spec, width, height
        self._grid: torch.Tensor | None = None
        if spec.arrangement == "equirect":
            if hfov_deg is None or not 0 < hfov_deg < 180:
                raise DepthshotError(f"VR180 needs a horizontal field of view in (0, 180) degrees, got {hfov_deg}")
            eye = eye_size or vr_eye_size(width, hfov_deg)
            if eye < 2 or eye % 2:
                raise DepthshotError(f"VR180 eye size must be an even number of pixels >= 2, got {eye}")
            self._grid = equirect_grid(width, height, hfov_deg, eye, device)
            self.size = (2 * eye, eye)
        elif spec.arrangement == "side_by_side":
            self.size = (2 * (width // 2), height) if spec.half else (2 * width, height)
        elif spec.arrangement == "top_bottom":
            self.size = (width, 2 * (height // 2)) if spec.half else (width, 2 * height)
        else:
            self.size = (width, height)

    def __call__(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """Pack two (3, H, W) eyes into (3, H', W')."""
        if left.shape != (3, self.height, self.width) or right.shape != left.shape:
            raise DepthshotError(f"eyes must be (3, {self.height}, {self.width}), got {tuple(left.shape)}")
        spec = self.spec
        if spec.arrangement == "anaglyph":
            return anaglyph(left, right)
        if spec.arrangement == "equirect":
            eyes = torch.stack([left, right]).to(torch.float32)
            grid = self._grid.to(eyes.device).expand(2, -1, -1, -1)
            warped = F.grid_sample(eyes, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            return torch.cat([warped[0], warped[1]], 2)
        first, second = (right, left) if spec.right_first else (left, right)
        dim = 2 if spec.arrangement == "side_by_side" else 1
        if spec.half:
            size = (self.height, self.width // 2) if dim == 2 else (self.height // 2, self.width)
            first, second = _resize(first, size), _resize(second, size)
        return torch.cat([first, second], dim)


def anaglyph(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Dubois red-cyan anaglyph of two (3, H, W) sRGB eyes in [0, 1]: red from the left eye, cyan from the right."""
    ml = torch.tensor(_DUBOIS_LEFT, device=left.device)
    mr = torch.tensor(_DUBOIS_RIGHT, device=left.device)
    mixed = torch.einsum("oc,chw->ohw", ml, _to_linear(left)) + torch.einsum("oc,chw->ohw", mr, _to_linear(right))
    return _to_srgb(mixed.clamp(0.0, 1.0))


def equirect_grid(width: int, height: int, hfov_deg: float, eye: int, device: torch.device | str) -> torch.Tensor:
    """Sampling grid (1, eye, eye, 2) for ``grid_sample`` that maps a pinhole image to a 180x180 degree equirect.

    Square pixels, principal point at the centre, ``fx = (width / 2) / tan(hfov / 2)``; directions outside the
    image (or behind the camera) sample zeros (black).
    """
    fx = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    ang = (torch.arange(eye, dtype=torch.float64, device=device) + 0.5) / eye * math.pi - math.pi / 2
    lat, lon = torch.meshgrid(ang, ang, indexing="ij")  # lat: -90 (top) .. +90 (bottom), image y is down
    x, y, z = torch.cos(lat) * torch.sin(lon), torch.sin(lat), torch.cos(lat) * torch.cos(lon)
    z = z.clamp_min(1e-9)
    u = fx * x / z + width / 2.0  # pixel coordinates, 0 = left edge of the first pixel
    v = fx * y / z + height / 2.0
    grid = torch.stack([u / width * 2 - 1, v / height * 2 - 1], -1)
    return grid.clamp(-4, 4).to(torch.float32)[None]


def _resize(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(img[None].float(), size=size, mode="bilinear", antialias=True, align_corners=False)[0]


def _to_linear(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0) + 0.055) / 1.055) ** 2.4)


def _to_srgb(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(0) ** (1 / 2.4) - 0.055)
