"""A tiny ray caster for test scenes with known geometry: axis-aligned textured boxes seen by a stereo pair.

Camera frame: x right, y down, z forward (metres); pinhole with square pixels, principal point at the image centre.
The left camera sits at the origin, the right one at ``(baseline, 0, 0)``, so a point at depth ``z`` has the true
disparity ``fx * baseline / z`` px (``x_left - x_right``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Box:
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    colour: tuple[float, float, float] | None = None  # solid colour; None = procedural texture


@dataclass
class Scene:
    boxes: list[Box]
    width: int = 160
    height: int = 96
    fov_deg: float = 60.0
    baseline: float = 0.15
    supersample: int = 3
    fx: float = field(init=False)

    def __post_init__(self) -> None:
        self.fx = (self.width / 2) / np.tan(np.radians(self.fov_deg) / 2)


POLE_COLOUR = (1.0, 0.0, 0.0)


def desk_scene(width: int = 160, height: int = 96) -> Scene:
    """A back wall, a floor, a box with visible sides, and a thin red pole in front (about 3 px wide)."""
    return Scene(
        boxes=[
            Box((-50, -50, 10.0), (50, 50, 10.2)),
            Box((-50, 1.0, 1.5), (50, 1.1, 10.0)),
            Box((-1.2, -0.6, 5.0), (0.2, 0.6, 6.0)),
            Box((0.9, -2.0, 3.0), (0.97, 1.0, 3.07), colour=POLE_COLOUR),
        ],
        width=width,
        height=height,
    )


def _texture(p: np.ndarray) -> np.ndarray:
    """Smooth procedural colour (N, 3) in [0, 1] from world points (N, 3); red stays below 0.75."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    r = 0.4 + 0.2 * np.sin(2.1 * x + 1.3 * y + 0.7 * z) + 0.1 * np.sin(5.3 * x - 3.1 * z)
    g = 0.5 + 0.25 * np.sin(1.7 * y - 2.9 * x + 0.4) + 0.1 * np.cos(4.1 * y + 2.3 * z)
    b = 0.5 + 0.3 * np.sin(3.3 * x * 0.7 + 2.2 * y + 1.9 * z + 1.0)
    return np.clip(np.stack([r, g, b], 1), 0, 1)


def _cast(scene: Scene, origin_x: float, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colour (N, 3) and depth z (N,) of the nearest hit for rays through pixel coordinates u, v (N,)."""
    d = np.stack([(u - scene.width / 2) / scene.fx, (v - scene.height / 2) / scene.fx, np.ones_like(u)], 1)
    o = np.array([origin_x, 0.0, 0.0])
    best = np.full(len(u), np.inf)
    colour = np.zeros((len(u), 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        for box in scene.boxes:
            t1 = (np.array(box.lo) - o) / d
            t2 = (np.array(box.hi) - o) / d
            t_near = np.nanmax(np.minimum(t1, t2), 1)
            t_far = np.nanmin(np.maximum(t1, t2), 1)
            hit = (t_near <= t_far) & (t_near > 0) & (t_near < best)
            best[hit] = t_near[hit]
            if box.colour is not None:
                colour[hit] = box.colour
            else:
                colour[hit] = _texture(o + d[hit] * t_near[hit, None])
    return colour, best  # dir.z == 1, so t is the depth z


def render(scene: Scene, eye: str) -> tuple[np.ndarray, np.ndarray]:
    """Render one eye (``"left"`` or ``"right"``): image (H, W, 3) float32 in [0, 1] and depth z (H, W) metres."""
    ox = 0.0 if eye == "left" else scene.baseline
    s = scene.supersample
    vv, uu = np.mgrid[0 : scene.height, 0 : scene.width].astype(np.float64)
    offsets = (np.arange(s) + 0.5) / s
    acc = np.zeros((scene.height * scene.width, 3))
    for dv in offsets:
        for du in offsets:
            c, _ = _cast(scene, ox, (uu + du).ravel(), (vv + dv).ravel())
            acc += c
    _, z = _cast(scene, ox, (uu + 0.5).ravel(), (vv + 0.5).ravel())
    shape = (scene.height, scene.width)
    return (acc / s**2).reshape(*shape, 3).astype(np.float32), z.reshape(shape).astype(np.float32)


def true_disparity(scene: Scene, depth: np.ndarray) -> np.ndarray:
    """Disparity (H, W) px of the left view from its depth (H, W) metres."""
    return (scene.fx * scene.baseline / depth).astype(np.float32)


def visible_in_left(scene: Scene, right_depth: np.ndarray, left_depth: np.ndarray) -> np.ndarray:
    """(H, W) bool: right-view pixels whose surface point is also seen by the left camera."""
    h, w = right_depth.shape
    u = np.arange(w)[None, :] + scene.fx * scene.baseline / right_depth  # x_left = x_right + d
    ul = np.floor(u).astype(int)
    inside = (ul >= 0) & (ul < w)
    rows = np.arange(h)[:, None].repeat(w, 1)
    zl = left_depth[rows, ul.clip(0, w - 1)]
    return inside & (np.abs(zl - right_depth) <= 0.01 * right_depth)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB of images in [0, 1] over the masked pixels."""
    mse = float(((a - b) ** 2)[mask].mean())
    return 10 * np.log10(1.0 / max(mse, 1e-12))
