"""The project's camera model, mirrored for Blender (the add-on cannot import ``core.geometry.camera``).

Same numbers and conventions as ``core/geometry/camera.py`` (a test asserts they agree): pixel centres at
integer coordinates, principal point ``((W - 1) / 2, (H - 1) / 2)`` by default, square pixels with a
horizontal field of view, and relative inverse depth mapped affinely onto ``[1 / (near * ratio), 1 / near]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_HFOV_DEG = 60.0
DEFAULT_NEAR = 1.0
DEFAULT_NEAR_FAR_RATIO = 10.0
SENSOR_WIDTH_MM = 36.0


@dataclass(frozen=True)
class PassCamera:
    """Pinhole intrinsics in pixels of a ``width x height`` depth pass."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def lens_mm(self) -> float:
        """Blender focal length for ``SENSOR_WIDTH_MM`` with ``sensor_fit='HORIZONTAL'``."""
        return self.fx * SENSOR_WIDTH_MM / self.width

    @property
    def shift(self) -> tuple[float, float]:
        """Blender lens shift (x, y) as fractions of the larger image side."""
        size = max(self.width, self.height)
        return ((self.width - 1) / 2.0 - self.cx) / size, (self.cy - (self.height - 1) / 2.0) / size

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view in degrees."""
        return math.degrees(2.0 * math.atan((self.width / 2.0) / self.fx))


def pass_camera(width: int, height: int, known: dict | None = None, hfov_deg: float = DEFAULT_HFOV_DEG) -> PassCamera:
    """The pass's own intrinsics when it has them (fx, fy, cx, cy in its pixels), else ``hfov_deg``, centred."""
    if known:
        return PassCamera(float(known["fx"]), float(known["fy"]), float(known["cx"]), float(known["cy"]), width, height)
    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return PassCamera(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)


def relative_depth(t: float, near: float = DEFAULT_NEAR, ratio: float = DEFAULT_NEAR_FAR_RATIO) -> float:
    """Depth of a relative inverse depth normalised over its shot, ``t = (raw - lo) / (hi - lo)`` in [0, 1].

    The Geometry Nodes build the same expression; this is its reference (tests compare the two).
    """
    inv_near = 1.0 / near
    inv_far = inv_near / ratio
    return 1.0 / (inv_far + min(max(t, 0.0), 1.0) * (inv_near - inv_far))
