"""Hole filling for synthesised views: a spatial fill that continues the background, and a temporal one.

The spatial fill works on the warp's output (image, its per-pixel disparity with the holes already given their
background side's disparity, and the hole mask). It fills each hole from the background around it only: pixels
that are nearer than the background the hole belongs to (the foreground object whose edge borders it) are left out.
Next to the background the hole continues the background's trend along the row (a line fitted to the background
pixels beside it, its slope averaged over neighbouring rows and levelling off with the distance, instead of one
pixel stretched across it); farther in, it gives way to the mean of the background around the hole (a push-pull
pyramid at half resolution: weighted averages over ever coarser levels, blended back from coarse to fine), the best
guess where the background's texture is no longer predictable. Everything is torch on the input's device.

The temporal fill (:class:`TemporalFill`, one per eye and video) carries the last output view forward with the
optical flow and fills the holes from it where it shows the right background (see the class).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

_MARGIN = 1.0  # px of disparity: pixels this much nearer than a hole's background are foreground for it
_REACH = 6  # px: how far from a hole its foreground is looked for
_MIN_FLOW_SIZE = 32  # px: smaller views are filled spatially only (too small for the optical flow)
_VERTICAL = 1
_SIGMA = 1.0
_TREND_SAMPLES = 8  # background pixels beside a hole that its row's trend is fitted to
_TREND_ROWS = 2  # the trend's slope is averaged over this many rows above and below
_TREND_REACH = 16.0  # px: the trend levels off over this distance into the hole (at most this times the slope)
_MEAN_REACH = 32.0  # px: the trend gives way to the background's mean as exp(-distance / this) into the hole
_SAME_SURFACE = 1.0  # px of disparity: neighbouring background pixels of one fit differ by at most this


def window_max(x: torch.Tensor, ry: int, rx: int) -> torch.Tensor:
    """The max of ``x`` (H, W) over the (2 ry + 1) x (2 rx + 1) window around each pixel (outside the frame: none).

    Separable, each axis by doubling windows (a few whole-array maxima instead of one per window pixel: on the CPU
    several times faster than ``max_pool2d``).
    """
    for dim, r in ((0, ry), (1, rx)):
        if r <= 0:
            continue
        n, size = x.shape[dim], 2 * r + 1
        shape = list(x.shape)
        shape[dim] = r
        edge = torch.full(shape, -torch.inf, dtype=x.dtype, device=x.device)
        m, span = torch.cat([edge, x, edge], dim), 1
        while 2 * span <= size:  # m[i]: the max over [i, i + span) of the padded row
            m = torch.maximum(m.narrow(dim, 0, m.shape[dim] - span), m.narrow(dim, span, m.shape[dim] - span))
            span *= 2
        x = torch.maximum(m.narrow(dim, 0, n), m.narrow(dim, size - span, n))
    return x


def background_sources(disparity: torch.Tensor, holes: torch.Tensor, reach: int = _REACH) -> torch.Tensor:
    """(H, W) bool: the known pixels a hole may be filled from (not holes, and not nearer than a nearby hole's
    background by more than ``_MARGIN`` px).

    ``disparity``: (H, W) px, holes carrying their background side's disparity; ``holes``: (H, W) bool.
    """
    far = torch.where(holes, -disparity, torch.full_like(disparity, -torch.inf))
    hole_bg = -window_max(far, reach, reach)  # nearest holes' farthest bg
    return ~holes & ~(disparity > hole_bg + _MARGIN)


def _pull(values: torch.Tensor, weight: torch.Tensor, fy: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One coarser level: per cell of ``fy`` x 2 pixels, the weighted mean of its pixels (cells at odd edges are
    partial).

    ``values``: (C, H, W); ``weight``: (H, W). Returns the (C, H/fy, W/2) means and their (H/fy, W/2) weights,
    capped at 1.
    """
    k = (fy, 2)
    total = F.avg_pool2d(weight[None, None], k, ceil_mode=True)[0, 0]
    mean = F.avg_pool2d((values * weight)[None], k, ceil_mode=True)[0] / total.clamp_min(1e-6)
    return mean, (total * (fy * 2)).clamp(max=1.0)  # the cell's summed weight, capped


def _push(
    coarse: torch.Tensor, fine: torch.Tensor, weight: torch.Tensor, target: torch.Tensor, fy: int
) -> torch.Tensor:
    """One finer level: keep ``fine`` (C, H, W) in proportion to ``weight`` (H, W), take the rest from ``coarse``.

    ``coarse``: (C, H/fy, W/2), disparity last. Each pixel that needs it draws on the 3x3 coarse cells around its
    own, weighted by distance and by how close their disparity is to the pixel's ``target`` disparity (H, W) px (the
    background it should show), so a foreground object next to a hole does not bleed into it.
    """
    c, h, w = fine.shape
    h2, w2 = coarse.shape[-2:]
    y, x = (weight < 1).nonzero(as_tuple=True)
    if y.numel() == 0:
        return fine
    cy = (y.float() + 0.5) / fy - 0.5
    cx = (x.float() + 0.5) / 2 - 0.5
    acc = torch.zeros(c, y.numel(), device=fine.device)
    total = torch.zeros(y.numel(), device=fine.device)
    t = target[y, x]
    for dy in (-1, 0, 1) if fy > 1 else (0,):
        ny = (torch.round(cy) + dy).clamp_(0, h2 - 1)
        for dx in (-1, 0, 1):
            nx = (torch.round(cx) + dx).clamp_(0, w2 - 1)
            cell = coarse[:, ny.long(), nx.long()]
            dist2 = (ny - cy) ** 2 + (nx - cx) ** 2
            wgt = torch.exp(-dist2 - ((cell[-1] - t) / _SIGMA) ** 2) + 1e-12
            acc += cell * wgt
            total += wgt
    out = fine.clone()
    wt = weight[y, x]
    out[:, y, x] = fine[:, y, x] * wt + acc / total * (1 - wt)
    return out


def push_pull(values: torch.Tensor, weight: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fill the zero-weight pixels of ``values`` (C, H, W; disparity last, px) from the weighted ones.

    ``weight``: (H, W) in [0, 1]; ``target``: (H, W) px, the disparity each pixel should show (for holes, their
    background's). Each coarser level is the weighted mean of 2 pixels of a row (every ``_VERTICAL``-th level also of
    2 rows: disocclusions run along rows, and a receding floor changes much faster down than across); going back up,
    a pixel keeps its own value in proportion to its weight and takes the rest from the coarser cells around it that
    match its target disparity (see :func:`_push`). Returns (C, H, W); pixels with full weight are unchanged.
    """
    levels = [(values, weight, target, 1)]
    while levels[-1][0].shape[-1] > 1 and bool((levels[-1][1] < 1).any()):
        v, wt, t, _ = levels[-1]
        fy = 2 if len(levels) % _VERTICAL == 0 and v.shape[-2] > 1 else 1
        mean, total = _pull(v, wt, fy)
        t_mean, _ = _pull(t[None], torch.ones_like(t), fy)
        levels.append((mean, total, t_mean[0], fy))
    out = levels[-1][0]
    for i in range(len(levels) - 1, 0, -1):
        v, wt, t, _ = levels[i - 1]
        out = _push(out, v, wt, t, levels[i][3])
    return out


def depth_flow(flow: torch.Tensor, disparity: torch.Tensor, known: torch.Tensor,
               max_residual: float = 0.5) -> torch.Tensor | None:
    """The flow (2, H, W) px as a function of position and disparity fitted to ``known`` pixels.

    Each component is ``a + b x + c y + d (e + f x + g y)`` (camera rotation and translation, for small motions);
    None when the fit leaves a median residual over ``max_residual`` px (objects moving on their own).
    """
    _, h, w = flow.shape
    dev = flow.device
    xs, ys = torch.linspace(-1, 1, w, device=dev), torch.linspace(-1, 1, h, device=dev)
    pick = known[::3, ::3]  # every third pixel of every third row
    yy, xx = ys[::3, None].expand(pick.shape)[pick], xs[None, ::3].expand(pick.shape)[pick]
    dd = disparity[::3, ::3][pick]
    a = torch.stack([torch.ones_like(xx), xx, yy, dd, dd * xx, dd * yy], 1).double()  # (N, 6)
    b = flow[:, ::3, ::3][:, pick].T.double()  # (N, 2)
    if a.shape[0] < 64:
        return None
    keep = torch.ones(a.shape[0], dtype=torch.bool, device=dev)
    for _ in range(3):  # least squares, twice more without the pixels far off the fit (moving objects, bad flow)
        ak = a[keep]
        normal = ak.T @ ak
        normal += torch.eye(6, dtype=normal.dtype, device=dev) * (1e-9 * float(normal.diagonal().sum()) + 1e-12)
        coef = torch.linalg.solve(normal, ak.T @ b[keep])
        res = (a @ coef - b).norm(dim=1)
        med = float(res[keep].median())
        keep = res <= max(3 * med, 0.05)
    if med > max_residual:
        return None
    c = coef.T.to(flow.dtype)  # (2, 6)
    const = c[:, :1, None] + c[:, 1:2, None] * xs + c[:, 2:3, None] * ys[:, None]  # (2, H, W)
    slope = c[:, 3:4, None] + c[:, 4:5, None] * xs + c[:, 5:6, None] * ys[:, None]
    return torch.addcmul(const, slope, disparity.expand_as(slope))


def hole_runs(holes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The hole pixels and, for each, the columns just outside its horizontal run of holes.

    ``holes``: (H, W) bool. Returns ``y``, ``x`` (N,) of the hole pixels in row-major order and ``left``, ``right``
    (N,) int64: the column before the run (-1 at the frame's left edge) and after it (W at the right edge).
    """
    w = holes.shape[1]
    q = holes.reshape(-1).nonzero().squeeze(1)
    y, x = q // w, q % w
    starts = torch.ones_like(q, dtype=torch.bool)
    starts[1:] = (q[1:] != q[:-1] + 1) | (x[1:] == 0)
    ends = starts.roll(-1)
    run = starts.cumsum(0) - 1
    return y, x, x[starts][run] - 1, x[ends][run] + 1


def background_is_left(has_left: torch.Tensor, has_right: torch.Tensor, left_disparity: torch.Tensor,
                       right_disparity: torch.Tensor) -> torch.Tensor:
    """Which row neighbour of a hole's run is its background (N,) bool, True for the left one: the neighbour with
    the smaller disparity (the farther surface), or the only one there is (``has_left``/``has_right``: (N,) bool,
    the neighbours inside the frame; disparities (N,) px)."""
    return has_left & (~has_right | (left_disparity <= right_disparity))


def row_trend(
    image: torch.Tensor, disparity: torch.Tensor, holes: torch.Tensor, src: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The background's trend along each row continued into the holes.

    Each hole pixel's background side is the row neighbour of the hole's run with the smaller disparity
    (:func:`background_is_left`, as the stretch chooses). A line is fitted (least squares, per channel) to the
    ``_TREND_SAMPLES`` pixels from there deeper into the background; where they are not all background ``src`` of
    one surface the slope is 0 and the stretched pixel stays. The slope is averaged over the hole pixels of ``_TREND_ROWS`` rows above and below
    (noise) and followed from the line's value at the boundary, levelling off over ``_TREND_REACH`` px.
    ``image``: (C, H, W); ``disparity``: (H, W) px; ``holes``, ``src``: (H, W) bool. Returns the hole pixels' ``y``,
    ``x`` (N,), their colours (C, N) and their distances from the boundary pixel (N,) px.
    """
    _, h, w = image.shape
    y, x, lb, rb = hole_runs(holes)
    has_left, has_right = lb >= 0, rb < w
    lb, rb = lb.clamp(0, w - 1), rb.clamp(0, w - 1)
    use_left = background_is_left(has_left, has_right, disparity[y, lb], disparity[y, rb])
    edge = torch.where(use_left, lb, rb)
    step = torch.where(use_left, -1, 1)  # from the boundary deeper into the background
    dist = (x - edge).abs().to(image.dtype)
    cols, valid = [edge], src[y, edge]
    for j in range(1, _TREND_SAMPLES):
        col = edge + step * j
        valid = valid & (col >= 0) & (col < w)
        col = col.clamp(0, w - 1)
        valid &= src[y, col] & ((disparity[y, col] - disparity[y, cols[-1]]).abs() <= _SAME_SURFACE)
        cols.append(col)
    samples = torch.stack([image[:, y, col] for col in cols], 1)  # (C, m, N), the boundary pixel first
    t = torch.arange(_TREND_SAMPLES, device=image.device, dtype=image.dtype)  # px from the boundary
    t = (t.mean() - t)[:, None]  # centred positions, increasing towards the hole
    slope = ((samples * t).sum(1) / (t * t).sum()).where(valid, 0.0)  # (C, N): change per px towards the hole
    if _TREND_ROWS > 0:  # the mean over the hole pixels of the same column in the rows around
        index = torch.full((h + 2 * _TREND_ROWS, w), -1, dtype=torch.int64, device=image.device)
        index[y + _TREND_ROWS, x] = torch.arange(y.numel(), device=image.device)
        total, count = torch.zeros_like(slope), torch.zeros_like(dist)
        for dy in range(2 * _TREND_ROWS + 1):
            j = index[y + dy, x]
            there = j >= 0
            total += slope[:, j.clamp_min(0)] * there
            count += there
        slope = total / count
    # from the line at the boundary pixel (an edge pixel there often still mixes in some of the foreground), or
    # where the samples are not one background surface from the stretched pixel
    start = torch.where(valid, samples.mean(1) + slope * t[0], image[:, y, x])
    reach = _TREND_REACH * (1 - torch.exp(-dist / _TREND_REACH))
    return y, x, start + slope * reach, dist


def background_mean(image: torch.Tensor, disparity: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """The mean of the background ``src`` (H, W) bool around each pixel, at half resolution: (C, H/2, W/2).

    Each 2 x 2 cell holds the mean of its background pixels, weighted by their share of the cell, and
    :func:`push_pull` spreads the cells into those without background (matching their mean disparity).
    ``image``: (C, H, W); ``disparity``: (H, W) px.
    """
    w = src.to(image.dtype)[None, None]
    share = F.avg_pool2d(w, 2, ceil_mode=True)[0, 0]
    mean = F.avg_pool2d(image[None] * w, 2, ceil_mode=True)[0] / share.clamp_min(1e-6)
    d = F.avg_pool2d(disparity[None, None], 2, ceil_mode=True)[0, 0]
    return push_pull(torch.cat([mean, d[None]]), share, d)[:-1]


def spatial_fill(image: torch.Tensor, disparity: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """Fill the ``holes`` of ``image`` (C, H, W) in [0, 1] from the background around them; returns a new (C, H, W).

    Near the background side the row's trend continues (:func:`row_trend`); with the distance ``r`` into the hole it
    gives way to the mean of the background around it (:func:`background_mean`), keeping ``exp(-r / _MEAN_REACH)``
    of the colour (the farther from what was seen, the less predictable the texture; steadier from frame to frame
    too). ``disparity``: (H, W) px, holes carrying their background side's disparity (as the warp's stretch fill
    leaves them); ``holes``: (H, W) bool.
    """
    if not holes.any():
        return image
    src = background_sources(disparity, holes)
    y, x, trend, dist = row_trend(image, disparity, holes, src)
    mean = background_mean(image, disparity, src)[:, y // 2, x // 2]
    out = image.clone()
    out[:, y, x] = torch.lerp(mean, trend, torch.exp(-dist / _MEAN_REACH)).clamp_(0.0, 1.0)
    return out


@dataclass
class TemporalFillConfig:
    """Settings of :class:`TemporalFill`.

    ``flow_width``: the optical flow runs on frames scaled to at most this width (px; the background's motion is
    smooth); ``agree``: px of disparity (plus ``agree_rel`` of it) within which a carried pixel must match the hole's
    background; ``cut``: mean absolute difference (0..1) between the carried and the new view's known pixels above
    which the shot is taken to have changed and the carried background is dropped; ``model_residual``: px, the
    median misfit up to which the flow is taken as the camera's motion (:func:`depth_flow`).
    """

    flow_width: int = 640
    agree: float = 1.0
    agree_rel: float = 0.05
    cut: float = 0.12
    model_residual: float = 0.5


@dataclass
class _Carried:
    image: torch.Tensor  # (3, H, W) the last output view
    disparity: torch.Tensor  # (H, W) px
    gray: np.ndarray  # (h, w) uint8, the last view at the flow size


class TemporalFill:
    """Fills the holes of consecutive views of one eye from what the previous views showed there.

    Holds one view (the last output and its disparity): each new view's holes take the carried view's pixels moved
    by the dense optical flow between the two views (OpenCV DIS on a downscaled grey image). Inside the holes the
    flow saw made-up content: there it is the flow that a fit of the known pixels' flow against their position and
    disparity (:func:`depth_flow`: a moving camera before a still scene) gives at the hole's background disparity,
    or, where no such fit holds, the flow of the surrounding background (filled with :func:`push_pull`). A hole pixel
    takes the carried pixel where that shows the background the hole expects (its disparity agrees); the rest keeps
    the spatial fill. As the camera or the
    object moves, the background a hole hides was often seen a few frames earlier, and a scene point is filled the
    same way from frame to frame instead of afresh. Memory: one view. Call :meth:`reset` at a cut (a large change of
    the known pixels also resets it).
    """

    def __init__(self, config: TemporalFillConfig | None = None) -> None:
        self.config = config or TemporalFillConfig()
        self._carried: _Carried | None = None
        self._dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_FAST)

    def reset(self) -> None:
        """Forget the carried view (the next view is filled spatially only)."""
        self._carried = None

    def __call__(self, image: torch.Tensor, disparity: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        """Fill the ``holes`` of a spatially filled view ``image`` (3, H, W) in [0, 1]; returns (3, H, W).

        ``disparity``: (H, W) px, holes carrying their background's disparity; ``holes``: (H, W) bool.
        """
        gray = self._gray(image)
        carried = self._carried
        out = image
        if carried is not None and carried.image.shape == image.shape and min(gray.shape) >= _MIN_FLOW_SIZE:
            moved_img, moved_disp = self._follow(carried, gray, disparity, holes)
            known = ~holes
            if float((moved_img - image).abs().mean(0)[known].mean()) > self.config.cut if known.any() else True:
                moved_img = None  # a cut: nothing to carry
            if moved_img is not None:
                cfg = self.config
                agree = (moved_disp - disparity).abs() <= cfg.agree + cfg.agree_rel * disparity.abs()
                out = torch.where(holes & agree, moved_img, image)
        self._carried = _Carried(out, disparity, self._gray(out) if out is not image else gray)
        return out

    def _gray(self, image: torch.Tensor) -> np.ndarray:
        _, h, w = image.shape
        g = (image.mean(0).clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()
        if w > self.config.flow_width:
            size = (self.config.flow_width, max(1, round(h * self.config.flow_width / w)))
            g = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
        return g

    def _follow(
        self, carried: _Carried, gray: np.ndarray, disparity: torch.Tensor, holes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The carried view and disparity moved onto the new view: (3, H, W), (H, W)."""
        _, h, w = carried.image.shape
        flow = self._dis.calc(gray, carried.gray, None)  # new pixel x shows what the carried view had at x + flow
        dev = disparity.device
        f = torch.from_numpy(flow).to(dev).permute(2, 0, 1)
        scale = w / gray.shape[1]
        f = F.interpolate(f[None], size=(h, w), mode="bilinear", align_corners=False)[0] * scale
        # in and next to the holes the flow saw made-up content: where the scene holds still (the camera moves), the
        # flow the known pixels give as a function of disparity, at the hole's background disparity; else the
        # surrounding background's flow
        near = window_max(holes.float(), 2, 2) > 0
        model = depth_flow(f, disparity, ~near, self.config.model_residual)
        if model is not None:
            f = torch.where(near, model, f)
        else:
            src = background_sources(disparity, near).to(f.dtype)
            f = push_pull(torch.cat([f, disparity[None]]), src, disparity)[:2]
        ys, xs = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
        gx = (xs + f[0]) / max(w - 1, 1) * 2 - 1
        gy = (ys + f[1]) / max(h - 1, 1) * 2 - 1
        grid = torch.stack([gx, gy], -1)[None]
        both = torch.cat([carried.image, carried.disparity[None]])[None]
        moved = F.grid_sample(both, grid, mode="bilinear", padding_mode="border", align_corners=True)[0]
        outside = (gx.abs() > 1) | (gy.abs() > 1)
        moved[3][outside] = -torch.inf  # never agrees
        return moved[:3], moved[3]
