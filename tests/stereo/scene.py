"""A tiny ray caster for stereo test scenes with known geometry, and the scenes the stereo tests and bench use.

Camera frame: x right, y down, z forward (metres); pinhole with square pixels, principal point at the image centre.
The left camera sits at ``(camera_x, 0, 0)``, the right one at ``(camera_x + baseline, 0, 0)``, so a point at depth
``z`` has the true disparity ``fx * baseline / z`` px (``x_left - x_right``).

Shapes: axis-aligned boxes, spheres, tori (ring facing the camera), and textured quads (finite planes at any slant,
e.g. a floor receding to the horizon). Colour is supersampled (anti-aliased edges, as a real camera gives); depth is
the exact hit at each pixel centre. Which right-view pixels the left camera also sees is decided by casting the
right pixel's surface point back into the left camera (exact, no depth tolerance on neighbouring pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

Colour = tuple[float, float, float]
Vec = tuple[float, float, float]


@dataclass
class Box:
    lo: Vec
    hi: Vec
    colour: Colour | None = None  # solid colour; None = procedural texture
    scale: float = 1.0  # texture frequency multiplier


@dataclass
class Sphere:
    centre: Vec
    radius: float
    colour: Colour | None = None
    scale: float = 1.0


@dataclass
class Torus:
    """A ring around the axis through ``centre`` along z (it faces the camera, the background shows through)."""

    centre: Vec
    major: float
    minor: float
    colour: Colour | None = None
    scale: float = 1.0


@dataclass
class Quad:
    """The parallelogram ``centre + a * u + b * v`` for ``|a|, |b| <= 1`` (``u``, ``v``: half-edge vectors)."""

    centre: Vec
    u: Vec
    v: Vec
    colour: Colour | None = None
    scale: float = 1.0
    fade: float = 0.0  # > 0: the texture coarsens with depth as 1 / (1 + z / fade) (no aliasing at the horizon)


Shape = Box | Sphere | Torus | Quad


@dataclass
class Scene:
    shapes: list[Shape]
    width: int = 160
    height: int = 96
    fov_deg: float = 60.0
    baseline: float = 0.15
    supersample: int = 3
    camera_x: float = 0.0
    fx: float = field(init=False)

    def __post_init__(self) -> None:
        self.fx = (self.width / 2) / np.tan(np.radians(self.fov_deg) / 2)


@dataclass
class View:
    """One rendered stereo pair with its ground truth.

    ``left``/``right``: (H, W, 3) float32 in [0, 1]; ``disparity``: (H, W) px of the left view; ``right_disparity``:
    (H, W) px of the surface seen at each right pixel; ``covisible``: (H, W) bool, right pixels the left camera also
    sees (the rest are disocclusions and the screen-edge strip).
    """

    left: np.ndarray
    right: np.ndarray
    disparity: np.ndarray
    right_disparity: np.ndarray
    covisible: np.ndarray


POLE_COLOUR = (1.0, 0.0, 0.0)


def desk_scene(width: int = 160, height: int = 96) -> Scene:
    """A back wall, a floor, a box with visible sides, and a thin red pole in front (about 3 px wide)."""
    return Scene(
        shapes=[
            Box((-50, -50, 10.0), (50, 50, 10.2)),
            Box((-50, 1.0, 1.5), (50, 1.1, 10.0)),
            Box((-1.2, -0.6, 5.0), (0.2, 0.6, 6.0)),
            Box((0.9, -2.0, 3.0), (0.97, 1.0, 3.07), colour=POLE_COLOUR),
        ],
        width=width,
        height=height,
    )


def layered_scene(width: int = 160, height: int = 96) -> Scene:
    """Slanted planes at several depths: a wall turned 35 degrees, a card turned the other way, a box, thin sticks."""
    s = width / 640  # sticks stay about 3-4 px wide at any width
    return Scene(
        shapes=[
            Quad((0.0, 0.0, 9.0), (12.0, 0.0, 8.0), (0.0, 9.0, 0.0), scale=0.6 * s),  # back wall turned 34 deg, 6.5-15 m
            Quad((-0.9, 0.0, 3.2), (0.6, 0.0, -0.5), (0.0, 0.7, 0.0), scale=4.0 * s),  # a card turned the other way
            Box((0.5, -0.4, 2.2), (1.2, 0.5, 2.6), scale=4.0 * s),
            Box((-0.25, -2.0, 1.6), (-0.25 + 0.009 / s, 2.0, 1.605), colour=POLE_COLOUR),  # a thin stick
            Box((1.3, -2.0, 2.0), (1.3 + 0.014 / s, 2.0, 2.02), colour=(0.1, 0.9, 0.1)),
        ],
        width=width,
        height=height,
        baseline=0.1,
    )


def floor_scene(width: int = 160, height: int = 96) -> Scene:
    """A textured floor receding to the horizon (disparity 35 px at the bottom to ~0), a far wall, two boxes."""
    s = width / 640  # textures keep their frequency in pixels at any width
    return Scene(
        shapes=[
            Quad((0.0, 0.8, 150.5), (300.0, 0.0, 0.0), (0.0, 0.0, 150.0), scale=3.0 * s, fade=2.0),  # z 0.5..300.5 m
            Quad((0.0, -150.0, 300.0), (300.0, 0.0, 0.0), (0.0, 151.0, 0.0), scale=0.02 * s),  # far wall at the horizon
            Box((-0.7, 0.2, 2.0), (-0.3, 0.8, 2.4), scale=4.0 * s),
            Box((0.6, -0.4, 4.0), (1.4, 0.8, 4.6), scale=3.0 * s),
        ],
        width=width,
        height=height,
        baseline=0.1,
    )


def closeup_scene(width: int = 160, height: int = 96, camera_x: float = 0.0) -> Scene:
    """A torus, a sphere and a stick 0.9-1.1 m from the camera before a wall at 3 m (disparity up to ~62 px at 640)."""
    s = width / 640
    return Scene(
        shapes=[
            Quad((0.0, 0.0, 3.0), (4.0, 0.0, 0.0), (0.0, 3.0, 0.0), scale=3.0 * s),
            Torus((-0.3, 0.0, 1.05), 0.15, 0.05, scale=12.0 * s),
            Sphere((0.3, 0.05, 0.98), 0.12, scale=12.0 * s),
            Box((0.02, -2.0, 0.9), (0.02 + 0.006 / s, 2.0, 0.906), colour=POLE_COLOUR),
        ],
        width=width,
        height=height,
        baseline=0.1,
        camera_x=camera_x,
    )


def dolly(scene: Scene, frames: int, px_per_frame: float, nearest_z: float) -> list[Scene]:
    """The scene seen by a camera dollying left: the nearest object (at ``nearest_z`` m) moves ``px_per_frame``.

    Moving left, the camera approaches where the right eye stood a moment ago, so the background the foreground hid
    in the right view's disocclusions shows up in the earlier frames' left views.
    """
    step = px_per_frame * nearest_z / scene.fx
    return [replace(scene, camera_x=scene.camera_x - k * step) for k in range(frames)]


def _texture(p: np.ndarray) -> np.ndarray:
    """Smooth procedural colour (N, 3) in [0, 1] from world points (N, 3); red stays below 0.75."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    r = 0.4 + 0.2 * np.sin(2.1 * x + 1.3 * y + 0.7 * z) + 0.1 * np.sin(5.3 * x - 3.1 * z)
    g = 0.5 + 0.25 * np.sin(1.7 * y - 2.9 * x + 0.4) + 0.1 * np.cos(4.1 * y + 2.3 * z)
    b = 0.5 + 0.3 * np.sin(3.3 * x * 0.7 + 2.2 * y + 1.9 * z + 1.0)
    return np.clip(np.stack([r, g, b], 1), 0, 1)


def _hit_box(box: Box, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (np.array(box.lo) - o) / d
        t2 = (np.array(box.hi) - o) / d
        t_near = np.nanmax(np.minimum(t1, t2), 1)
        t_far = np.nanmin(np.maximum(t1, t2), 1)
    return np.where((t_near <= t_far) & (t_near > 0), t_near, np.inf)


def _hit_sphere(c: Vec, r: float, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest and farthest ray parameters through the sphere (inf where missed)."""
    oc = o - np.array(c)
    b = (d * oc).sum(1)
    a = (d * d).sum(1)
    disc = b * b - a * ((oc * oc).sum() - r * r)
    root = np.sqrt(np.maximum(disc, 0))
    near, far = (-b - root) / a, (-b + root) / a
    miss = (disc < 0) | (far <= 0)
    return np.where(miss, np.inf, np.maximum(near, 0)), np.where(miss, np.inf, far)


def _hit_torus(tor: Torus, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Sphere tracing of the torus distance field inside its bounding sphere, then Newton steps to the root."""
    t = np.full(len(d), np.inf)
    enter, leave = _hit_sphere(tor.centre, tor.major + tor.minor + 1e-3, o, d)
    idx = np.flatnonzero(np.isfinite(enter))
    if idx.size == 0:
        return t
    dd, s, stop = d[idx], enter[idx].copy(), leave[idx]
    oc = o - np.array(tor.centre)

    def sdf(s: np.ndarray) -> np.ndarray:
        p = oc + dd * s[:, None]
        return np.hypot(np.hypot(p[:, 0], p[:, 1]) - tor.major, p[:, 2]) - tor.minor

    norm = np.linalg.norm(dd, axis=1)
    for _ in range(120):
        s += sdf(s) / norm
    hit = (np.abs(sdf(s)) < 1e-6) & (s <= stop)
    t[idx[hit]] = s[hit]
    return t


def _hit_quad(q: Quad, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    c, u, v = (np.array(a, dtype=np.float64) for a in (q.centre, q.u, q.v))
    n = np.cross(u, v)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ((c - o) @ n) / (d @ n)
        p = o + d * t[:, None] - c
        a, b = p @ u / (u @ u), p @ v / (v @ v)
    return np.where((t > 0) & (np.abs(a) <= 1) & (np.abs(b) <= 1), t, np.inf)


def _hit(shape: Shape, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    if isinstance(shape, Box):
        return _hit_box(shape, o, d)
    if isinstance(shape, Sphere):
        return _hit_sphere(shape.centre, shape.radius, o, d)[0]
    if isinstance(shape, Torus):
        return _hit_torus(shape, o, d)
    return _hit_quad(shape, o, d)


def _rays(scene: Scene, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.stack([(u - scene.width / 2) / scene.fx, (v - scene.height / 2) / scene.fx, np.ones_like(u)], 1)


def _cast(scene: Scene, origin_x: float, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colour (N, 3) and depth z (N,) of the nearest hit for rays through pixel coordinates u, v (N,)."""
    d = _rays(scene, u, v)
    o = np.array([origin_x, 0.0, 0.0])
    best = np.full(len(u), np.inf)
    colour = np.zeros((len(u), 3))
    for shape in scene.shapes:
        t = _hit(shape, o, d)
        hit = t < best
        best[hit] = t[hit]
        if shape.colour is not None:
            colour[hit] = shape.colour
        else:
            p = o + d[hit] * t[hit, None]
            fade = getattr(shape, "fade", 0.0)
            colour[hit] = _texture(p * shape.scale / (1 + p[:, 2:] / fade if fade > 0 else 1.0))
    return colour, best  # dir.z == 1, so t is the depth z


def render(scene: Scene, eye: str) -> tuple[np.ndarray, np.ndarray]:
    """Render one eye (``"left"`` or ``"right"``): image (H, W, 3) float32 in [0, 1] and depth z (H, W) metres."""
    ox = scene.camera_x + (0.0 if eye == "left" else scene.baseline)
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
    """Disparity (H, W) px of a view from its depth (H, W) metres."""
    return (scene.fx * scene.baseline / depth).astype(np.float32)


def visible_in_left(scene: Scene, right_depth: np.ndarray) -> np.ndarray:
    """(H, W) bool: right-view pixels whose surface point the left camera also sees (and inside its frame).

    The point seen at each right pixel centre is moved into the left camera (``x_left = x_right + d``) and a ray is
    cast there: it is co-visible when that ray hits it rather than something nearer.
    """
    h, w = right_depth.shape
    vv, uu = np.mgrid[0:h, 0:w].astype(np.float64)
    u_left = uu + 0.5 + scene.fx * scene.baseline / right_depth.astype(np.float64)
    inside = (u_left >= 0) & (u_left < w)
    _, z = _cast(scene, scene.camera_x, u_left.ravel(), (vv + 0.5).ravel())
    return inside & (np.abs(z.reshape(h, w) - right_depth) <= 1e-4 * right_depth)


def render_view(scene: Scene) -> View:
    """Both eyes of ``scene`` with their exact disparity and the co-visibility mask."""
    left, zl = render(scene, "left")
    right, zr = render(scene, "right")
    return View(left, right, true_disparity(scene, zl), true_disparity(scene, zr), visible_in_left(scene, zr))


STILLS = {"layered": layered_scene, "floor": floor_scene, "closeup": closeup_scene}


def dolly_sequence(width: int = 160, height: int = 96, frames: int = 24, px_per_frame: float = 1.5) -> list[Scene]:
    """The close-up scene under a sideways dolly: the nearest objects (about 0.9 m) move ``px_per_frame`` px."""
    return dolly(closeup_scene(width, height), frames, px_per_frame * width / 640, 0.9)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB of images in [0, 1] over the masked pixels."""
    mse = float(((a - b) ** 2)[mask].mean())
    return 10 * np.log10(1.0 / max(mse, 1e-12))
