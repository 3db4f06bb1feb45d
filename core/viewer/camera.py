"""Where the viewer's camera sits: at the recording camera (OpenCV axes: y down, looking down +z), optionally
orbited about the scene centre."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.errors import DepthshotError
from core.geometry.camera import DEFAULT_HFOV_DEG, Intrinsics

UP = np.array([0.0, -1.0, 0.0])
"""Screen up in OpenCV camera axes."""


@dataclass(frozen=True)
class View:
    """``hfov_deg``: horizontal field of view (use the one the clouds were made with to see the frame as filmed);
    ``orbit_deg``: yaw of the camera about the scene centre (0 = the recording camera's place); ``point_size``
    in pixels; ``size``: image size (width, height)."""

    hfov_deg: float = DEFAULT_HFOV_DEG
    orbit_deg: float = 0.0
    point_size: float = 2.0
    size: tuple[int, int] = (960, 540)

    def __post_init__(self) -> None:
        if not 0.0 < self.hfov_deg < 180.0:
            raise DepthshotError(f"field of view must be between 0 and 180 degrees, got {self.hfov_deg}")
        if not (self.size[0] >= 16 and self.size[1] >= 16):
            raise DepthshotError(f"image size must be at least 16x16, got {self.size[0]}x{self.size[1]}")
        if not self.point_size > 0:
            raise DepthshotError(f"point size must be positive, got {self.point_size}")

    @property
    def vfov_deg(self) -> float:
        """Vertical field of view for the image aspect (what Open3D's cameras take)."""
        w, h = self.size
        return math.degrees(2.0 * math.atan(math.tan(math.radians(self.hfov_deg) / 2.0) * h / w))


def orbit_eye(centre: np.ndarray, orbit_deg: float) -> np.ndarray:
    """Camera position (3,): the origin rotated by ``orbit_deg`` about the vertical axis through ``centre``
    (positive = the camera moves to the right)."""
    a = math.radians(orbit_deg)
    rot = np.array([[math.cos(a), 0.0, -math.sin(a)], [0.0, 1.0, 0.0], [math.sin(a), 0.0, math.cos(a)]])
    return centre + rot @ (-centre)


def look_at_extrinsic(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-to-camera transform (4, 4) of a camera at ``eye`` (3,) looking at ``target`` (3,) with OpenCV axes
    (x right, y down, z forward) and screen up along :data:`UP`; the identity for ``eye`` at the origin and
    ``target`` on +z."""
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(-UP, z)
    x /= np.linalg.norm(x)
    rot = np.stack([x, np.cross(z, x), z])
    extrinsic = np.eye(4)
    extrinsic[:3, :3], extrinsic[:3, 3] = rot, -rot @ eye
    return extrinsic


@dataclass(frozen=True)
class Filmed:
    """What the viewer takes from the depth pass the clouds were made from: the lens (``intrinsics``, for the
    "as filmed" view: field of view, principal point, the frame's aspect), the clip's frame rate (``fps``) and,
    for world-space clouds, the camera ``poses`` per frame index (world-from-camera, OpenCV axes), which the
    camera follows."""

    intrinsics: Intrinsics
    fps: float
    poses: dict[int, np.ndarray] | None = None


def window_intrinsic(k: Intrinsics, width: int, height: int) -> np.ndarray:
    """The 3x3 camera matrix of lens ``k`` for a window of ``width x height`` (the lens resized to it; pixel
    centres kept), float64."""
    return k.resized(width, height).matrix


def follow_extrinsic(pose: np.ndarray, centre: np.ndarray, orbit_deg: float = 0.0) -> np.ndarray:
    """Camera-from-world (4, 4) of the viewer following a filming camera at ``pose`` (world-from-camera), orbited
    by ``orbit_deg`` about ``centre`` (3,) given in that camera's axes; ``inv(pose)`` when not orbited."""
    return look_at_extrinsic(orbit_eye(centre, orbit_deg), centre) @ np.linalg.inv(pose)
