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
DEFAULT_EDGE_ANGLE_DEG = 85.0  # core.geometry.edges.DEFAULT_MAX_ANGLE_DEG: grid edges steeper than this are cut


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


@dataclass(frozen=True)
class DepthMapping:
    """How the rig turns a pass into metres: relative inverse depth onto ``[near, near * ratio]``, metric depth times
    ``metric_scale``; ``hfov_deg`` > 0 overrides the field of view (also a pass's own intrinsics)."""

    near: float = DEFAULT_NEAR
    ratio: float = DEFAULT_NEAR_FAR_RATIO
    hfov_deg: float = 0.0
    metric_scale: float = 1.0

    def __post_init__(self) -> None:
        if not (self.near > 0 and self.ratio > 1 and self.metric_scale > 0 and 0 <= self.hfov_deg < 180):
            raise ValueError(f"bad depth mapping {self}: near > 0, far > near, scale > 0, 0 <= FOV < 180")

    def camera(self, width: int, height: int, known: dict | None) -> PassCamera:
        """The pass's camera under this mapping."""
        if self.hfov_deg > 0:
            return pass_camera(width, height, None, self.hfov_deg)
        return pass_camera(width, height, known)

    def nearest(self, kind: str, shots: list[tuple[float, float, float, float]]) -> float:
        """``nearest_depth`` in metres under this mapping."""
        scale = self.metric_scale if kind == "metric_depth" else 1.0
        return scale * nearest_depth(kind, shots, self.near, self.ratio)

    def farthest(self, kind: str, shots: list[tuple[float, float, float, float]]) -> float:
        """``farthest_depth`` in metres under this mapping."""
        scale = self.metric_scale if kind == "metric_depth" else 1.0
        return scale * farthest_depth(kind, shots, self.near, self.ratio)


def nearest_depth(kind: str, shots: list[tuple[float, float, float, float]], near: float = DEFAULT_NEAR,
                  ratio: float = DEFAULT_NEAR_FAR_RATIO) -> float:
    """The robust nearest depth of a pass: where the stereo camera converges, so almost nothing crosses the screen.

    ``shots``: per shot ``(lo, hi, p2, p98)`` raw values. Relative inverse depth: the 98th percentile (near) mapped
    with ``relative_depth`` over its shot; metric depth (metres): the 2nd percentile. The smallest over the shots.
    """
    if kind == "metric_depth":
        return max(min(p2 for _, _, p2, _ in shots), 1e-3)
    depths = [relative_depth((p98 - lo) / (hi - lo) if hi > lo else 1.0, near, ratio) for lo, hi, _, p98 in shots]
    return min(depths)


def farthest_depth(kind: str, shots: list[tuple[float, float, float, float]], near: float = DEFAULT_NEAR,
                   ratio: float = DEFAULT_NEAR_FAR_RATIO) -> float:
    """The largest depth the built geometry reaches (metres for metric passes, ``near * ratio`` for relative)."""
    if kind == "metric_depth":
        return max(hi for _, hi, _, _ in shots)
    return near * ratio


def rig_location(occupied: list[tuple[tuple[float, float, float], tuple[float, float, float]]],
                 half_width: float, margin: float) -> tuple[float, float, float]:
    """Where a new rig's camera goes (world metres; it looks along +Y) so nothing in the scene hides its view.

    ``occupied``: world bounding boxes ``(min xyz, max xyz)`` of the scene's visible geometry; ``half_width``: the
    half width of the rig's view volume at its far end. The origin when the scene is empty; else beside everything
    on +X, so the view volume (``|x - x0| <= half_width``) starts ``margin`` past the largest ``max x``.
    """
    if not occupied:
        return (0.0, 0.0, 0.0)
    right = max(hi[0] for _, hi in occupied)
    return (right + margin + half_width, 0.0, 0.0)
