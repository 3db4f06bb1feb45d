"""View synthesis: forward-warp one RGB frame by a per-pixel horizontal disparity.

Conventions: disparity ``d`` is in pixels, ``d = x_left - x_right``; larger ``d`` is nearer (positive = in front
of the screen, negative = behind it). A view is produced by moving every source pixel to ``x + shift * d``:
``shift = +0.5`` gives the left eye and ``-0.5`` the right eye of a centre image, ``-1`` the right eye of a left image.

The warp treats each row as surfaces rather than samples: neighbouring pixels whose disparity changes smoothly are
joined into one piecewise-linear surface that is resampled at every target pixel centre it spans (sub-pixel
accurate, and steep or curved surfaces do not tear or hide themselves); where surfaces overlap the nearest one is
seen, blended with the one behind over the target pixel its edge only partly covers. The disoccluded holes are then
filled from their background side. Everything runs in torch on the device of the input, CPU or CUDA alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import DepthshotError
from core.stereo.fill import TemporalFill, background_is_left, hole_runs, spatial_fill

Mode = Literal["both_half", "right_only"]
Border = Literal["fill", "black"]
Fill = Literal["stretch", "spatial", "temporal"]
FILLS: tuple[str, ...] = ("stretch", "spatial", "temporal")  # temporal: only frame by frame, see ViewSynthesizer
_STATELESS = ("stretch", "spatial")
DEFAULT_FILL: Fill = "temporal"  # what core.stereo uses for videos (see the README's figures)
ArrayLike = TypeVar("ArrayLike", torch.Tensor, np.ndarray)

_PAD = 2  # spare target columns on each side of a row (never written; they bound hole runs to one row)
_SLOPE_RATIO = 2.0  # a disparity step up to this times the smaller step beside it continues the same surface
_SAME_SURFACE = 1e-3  # px of disparity: pieces this close to the nearest at a target pixel are averaged
_MIX_CONTRAST = 0.1  # RGB distance (0..1) between an edge pixel's two neighbours below which its mix is not judged
_MIX_RESIDUAL = 0.03  # an edge pixel this far (relative to that distance) off the line between them: not a mix


@dataclass
class WarpResult:
    """One synthesised view.

    ``image``: (3, H, W) float in [0, 1]; ``disparity``: (H, W) px, the disparity of the surface seen at
    each target pixel (background side's value in filled holes); ``holes``: (H, W) bool, pixels nothing landed on
    (disocclusions and screen borders) before they were filled.
    """

    image: torch.Tensor
    disparity: torch.Tensor
    holes: torch.Tensor


def dilate_foreground(disparity: torch.Tensor, radius: int) -> torch.Tensor:
    """Grow near surfaces sideways by ``radius`` px (a horizontal max filter on disparity).

    Estimated depth edges are soft and tend to lag behind the colour edge; dilating the foreground makes the pixels
    just outside an object move with it instead of tearing off into a halo. ``disparity``: (H, W) px.
    """
    if radius <= 0:
        return disparity
    return F.max_pool1d(disparity[:, None, :], kernel_size=2 * radius + 1, stride=1, padding=radius)[:, 0, :]


def warp_view(
    image: torch.Tensor,
    disparity: torch.Tensor,
    shift: float,
    *,
    tolerance: float = 1.0,
    border: Border = "fill",
    fill: Fill = "stretch",
) -> WarpResult:
    """Forward-warp ``image`` (3, H, W) float in [0, 1] by ``shift * disparity`` (H, W) px, with a z-buffer and a fill.

    Each row is warped as a surface, not as separate samples: two neighbouring source pixels belong to one surface
    when their disparities differ by at most ``tolerance`` px, or by at most ``_SLOPE_RATIO`` times the smaller step
    next to them (a steep or curved surface changes its disparity smoothly; an object boundary jumps). A surface is
    resampled linearly at every target pixel centre it spans, an object's outermost pixels reach half a pixel beyond
    their centres (so thin objects keep their width), and where several surfaces cover a pixel the nearest (largest
    disparity) is seen, blended with the next one behind where its edge covers the pixel only partly. ``fill``: how
    holes are filled (``"stretch"``: the background-side neighbour of each run). ``image`` is in [0, 1]: an edge
    pixel's colour is judged a mix of its two sides when it lies on the line between its neighbours' colours (see
    :func:`_edge_mix`), and then its own surface's colour is seen and its edge placed where the mix says.
    ``border``: ``"fill"`` extends content into the empty strip a shift leaves at the frame edge, ``"black"`` leaves
    that strip black (a floating window).
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise DepthshotError(f"image must be (3, H, W), got {tuple(image.shape)}")
    if disparity.shape != image.shape[1:]:
        raise DepthshotError(f"disparity {tuple(disparity.shape)} does not match image {tuple(image.shape[1:])}")
    if not torch.isfinite(disparity).all():
        raise DepthshotError("disparity contains NaN or infinite values")
    if fill not in _STATELESS:
        raise DepthshotError(f"fill {fill!r} needs the frames in order: use ViewSynthesizer ({', '.join(_STATELESS)})")
    _, h, w = image.shape
    disparity = disparity.to(device=image.device, dtype=torch.float32)
    conn = _connected(disparity, tolerance)
    colour, frac = _edge_mix(image.to(torch.float32), conn)
    sources = torch.cat([colour.reshape(3, -1), disparity.reshape(1, -1)])
    values, holes = _rasterize(sources, disparity, shift, conn, _edge_extent(disparity, conn, frac))
    values, holes = values.view(4, h, -1), holes.view(h, -1)
    holes[:, :_PAD] = False
    holes[:, _PAD + w :] = False
    at_edge = _fill_holes(values, holes, border)
    real = slice(_PAD, _PAD + w)
    out, disp, holes = values[:3, :, real], values[3, :, real], holes[:, real]
    if fill == "spatial":
        # the screen-edge strips too, from their one side (unless they are to stay black)
        out = spatial_fill(out, disp, holes if border == "fill" else holes & ~at_edge[:, real])
    return WarpResult(image=out.to(image.dtype), disparity=disp, holes=holes)


def _connected(disparity: torch.Tensor, tolerance: float) -> torch.Tensor:
    """(H, W - 1) bool: whether source pixels x and x + 1 of a row lie on one surface (see :func:`warp_view`)."""
    step = disparity.diff(dim=1).abs_()
    pad = torch.full_like(step[:, :1], torch.inf)
    beside = torch.minimum(torch.cat([pad, step[:, :-1]], 1), torch.cat([step[:, 1:], pad], 1))
    return (step <= tolerance) | (step <= _SLOPE_RATIO * beside)


def _edge_mix(image: torch.Tensor, conn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unmix the edge pixels of each row: ``image`` (3, H, W) in [0, 1], ``conn`` (H, W - 1) from :func:`_connected`.

    An edge pixel (joined to its inner neighbour, not to its outer one) whose colour lies on the line between those
    neighbours' colours is taken as the mix ``f * inner + (1 - f) * outer`` that a camera records where a surface's
    edge crosses the pixel: ``f`` is the share of its own surface. Where the two sides differ by less than
    ``_MIX_CONTRAST`` or the colour is off the line (texture, not a mix) ``f`` leans towards 1. Returns the colours
    with each edge pixel's own-surface colour (the mix undone, kept between its colour and its inner neighbour's)
    and ``frac`` (2, H, W): ``f`` of the pixels open on the right (index 0) and on the left (1), 1 elsewhere.
    """
    _, h, w = image.shape
    colour = image.clone()
    frac = torch.ones(2, h, w, device=image.device)
    if w < 3:
        return colour, frac
    flat, out, fr = image.reshape(3, -1), colour.view(3, -1), frac.view(2, -1)
    for k, (sel, side) in enumerate([(conn[:, :-1] & ~conn[:, 1:], -1), (conn[:, 1:] & ~conn[:, :-1], 1)]):
        y, x = sel.nonzero(as_tuple=True)  # edge pixels are few: work on them only
        at = y * w + x + 1
        mid, inner, outer = flat[:, at], flat[:, at + side], flat[:, at - side]
        span = inner - outer
        norm = span.norm(dim=0)
        f = (((mid - outer) * span).sum(0) / (norm * norm).clamp_min(1e-12)).clamp_(0.0, 1.0)
        off = (mid - outer - f * span).norm(dim=0)
        trust = ((norm - _MIX_CONTRAST) / _MIX_CONTRAST).clamp(0.0, 1.0)
        trust *= (1 - off / (_MIX_RESIDUAL * norm).clamp_min(1e-12)).clamp(0.0, 1.0)
        f = 1 - (1 - f) * trust
        fr[k, at] = f
        fc = f.clamp_min(0.5)
        own = (mid - (1 - fc) * outer) / fc
        out[:, at] = torch.minimum(torch.maximum(own, torch.minimum(mid, inner)), torch.maximum(mid, inner))
    return colour, frac


def _edge_extent(disparity: torch.Tensor, conn: torch.Tensor, frac: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """How far (source px) a surface reaches past the centre of its pixel at an edge to a farther surface.

    Half a pixel, the mean, where the colours say nothing; else the pixel's own share ``f`` less a half, plus the
    share of it that the pixel beyond shows (``frac`` from :func:`_edge_mix`), within 0..1. Returns (H, W) each for
    the edges on the right and on the left.
    """
    h, w = disparity.shape
    right = torch.full((h, w), 0.5, device=disparity.device)
    left = right.clone()
    y, x = (~conn).nonzero(as_tuple=True)  # the pair (x, x + 1) of row y is an edge: few of them
    fr, fl = frac[0, y, x], frac[1, y, x + 1]
    nearer = disparity[y, x] > disparity[y, x + 1]
    right[y, x] = torch.where(nearer, (fr + 0.5 - fl).clamp(0.0, 1.0), 0.5)
    left[y, x + 1] = torch.where(nearer, 0.5, (fl + 0.5 - fr).clamp(0.0, 1.0))
    return right, left


@dataclass
class _Pieces:
    """The pieces of one batch, as flat (S,) tensors; see :func:`_pieces`."""

    start: torch.Tensor
    end: torch.Tensor
    src_a: torch.Tensor
    src_b: torch.Tensor
    row: torch.Tensor
    edge: torch.Tensor


def _pieces(
    disparity: torch.Tensor, shift: float, conn: torch.Tensor, extent: tuple[torch.Tensor, torch.Tensor]
) -> list[_Pieces]:
    """The pieces of every row in target space, in two batches: one per source pixel, then the few left edges.

    A piece runs from target column ``start`` to ``end`` (float, either order) and interpolates linearly from source
    pixel ``src_a`` (flat index) at ``start`` to ``src_b`` at ``end``. Every pixel has a piece to its right: to its
    right neighbour when connected, else an *edge* piece of its own colour. A pixel not connected on its left gets an
    edge piece there too. An edge piece reaches ``extent`` (right, left: (H, W) source px, see :func:`_edge_extent`)
    beyond the pixel's centre (scaled by how much the surface stretches or shrinks there), and then half a target pixel more
    over which its coverage falls from 1 to 0 (the target pixels an object's edge only partly covers blend with what
    lies behind); its ``start`` is the outer end.
    """
    h, w = disparity.shape
    dev = disparity.device
    target = torch.arange(w, device=dev, dtype=torch.float32) + shift * disparity
    flat = torch.arange(h * w, device=dev).view(h, w)
    # target px per source px of the surface next to an open end: the smaller of its last two steps (an edge
    # pixel's own step is often off, its colour and depth being a mix of both surfaces); below 1 too, where the
    # surface shrinks (it turns away from the target view: a curved object's limb, a side face the source sees
    # more of), so that its edge stays as near its last pixel as the surface says
    step = target.diff(dim=1).abs_().clamp_(max=1.5).where(conn, torch.ones_like(conn, dtype=torch.float32))
    inner = step.clone()
    inner[:, 1:] = torch.minimum(step[:, 1:], step[:, :-1])  # for the pair (x, x+1): also the pair before
    outer = step.clone()
    outer[:, :-1] = torch.minimum(step[:, :-1], step[:, 1:])  # and the pair after
    open_right = torch.ones(h, w, dtype=torch.bool, device=dev)
    open_right[:, :-1] = ~conn
    reach_right = torch.full((h, w), 1.0, device=dev)
    reach_right[:, 1:] = extent[0][:, 1:] * inner + 0.5
    end_right = target + reach_right
    end_right[:, :-1] = torch.where(conn, target[:, 1:], end_right[:, :-1])
    src_b = flat.clone()
    src_b[:, :-1] += conn
    rows = torch.arange(h, device=dev)[:, None].expand(h, w)
    # the right pieces: an edge piece's outer end is its end, so it is listed from there
    right = _Pieces(torch.where(open_right, end_right, target).view(-1),
                    torch.where(open_right, target, end_right).view(-1),
                    flat.view(-1), src_b.view(-1), rows.reshape(-1), open_right.view(-1))
    open_left = torch.ones(h, w, dtype=torch.bool, device=dev)
    open_left[:, 1:] = ~conn
    reach_left = torch.full((h, w), 1.0, device=dev)
    reach_left[:, :-1] = extent[1][:, :-1] * outer + 0.5
    y, x = open_left.nonzero(as_tuple=True)
    t = target[y, x]
    left = _Pieces(t - reach_left[y, x], t, flat[y, x], flat[y, x], y, torch.ones_like(t, dtype=torch.bool))
    return [right, left]


def _rasterize(
    sources: torch.Tensor, disparity: torch.Tensor, shift: float, conn: torch.Tensor,
    extent: tuple[torch.Tensor, torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample the row pieces at the target pixel centres they span, keeping the nearest surface per pixel.

    ``sources``: (C, H*W) per source pixel, disparity last; ``disparity``: (H, W) px; ``conn``, ``extent``: as in
    :func:`_pieces`. A piece covers the columns
    ``c`` with ``min(start, end) <= c < max(start, end)``. Where the nearest surface covers a target pixel only
    partly (an object's outer edge), the next surface behind shows through in proportion. Returns ``values`` (C,
    H*(W+4)) on the padded grid (meaningless at holes) and ``holes`` (H*(W+4),) bool, the target pixels no piece
    covers.
    """
    h, w = disparity.shape
    pitch = w + 2 * _PAD
    size = h * pitch  # slot ``size`` collects the samples that fall outside every row
    dev = sources.device
    d = sources[-1]
    samples = []  # per piece batch and column step: (target, depth, cover, alpha, src a, src b)
    for p in _pieces(disparity, shift, conn, extent):
        lo, hi = torch.minimum(p.start, p.end), torch.maximum(p.start, p.end)
        first = torch.ceil(lo)
        span = int((hi - first).max().clamp_min(0).ceil().item()) if lo.numel() else 0  # columns per piece, at most
        length = p.end - p.start
        inv = torch.where(length != 0, 1.0 / length.where(length != 0, torch.ones_like(length)), 0.0)
        da, db = d[p.src_a], d[p.src_b]
        db -= da
        outward = torch.sign(p.start - p.end)
        base = p.row * pitch + _PAD
        for j in range(span):
            c = first + j
            ok = (c < hi) & (c >= 0) & (c < w)
            a = (c - p.start).mul_(inv)
            target = torch.where(ok, base + c.to(torch.int64), size)
            depth = torch.addcmul(da, a, db).masked_fill_(~ok, -torch.inf)
            cover = torch.where(p.edge, ((p.start - c) * outward).clamp_(0.0, 1.0), 1.0)
            samples.append((target, depth, cover, a, p.src_a, p.src_b))
    nearest = torch.full((size + 1,), -torch.inf, device=dev)
    for target, depth, *_ in samples:
        nearest.scatter_reduce_(0, target, depth, "amax")
    fronts = [depth >= nearest[target] - _SAME_SURFACE for target, depth, *_ in samples]
    behind = torch.full((size + 1,), -torch.inf, device=dev)
    for (target, depth, *_), front in zip(samples, fronts):
        behind.scatter_reduce_(0, target, depth.masked_fill(front, -torch.inf), "amax")
    # the front layer's coverage per target pixel (mean over its pieces), the back layer gets the rest
    acc = torch.zeros(3, size + 1, device=dev)  # front count, front coverage sum, back count
    backs = []
    for (target, depth, cover, *_), front in zip(samples, fronts):
        back = ~front & (depth >= behind[target] - _SAME_SURFACE) & (depth > -torch.inf)
        backs.append(back)
        acc[0].index_add_(0, target, front.float())
        acc[1].index_add_(0, target, cover * front)
        acc[2].index_add_(0, target, back.float())
    acc[:, size] = 0
    coverage = acc[1] / acc[0].clamp_min(1.0)
    alone = acc[2] == 0
    holes = (acc[0] == 0) | (alone & (coverage < 0.5))  # an edge that barely reaches into nothing: a hole
    coverage = torch.where(alone, torch.ones_like(coverage), coverage)
    front_share = coverage / acc[0].clamp_min(1.0)
    back_share = (1 - coverage) / acc[2].clamp_min(1.0)
    values = torch.zeros(sources.shape[0], size + 1, device=dev)
    for (target, _, _, alpha, ia, ib), front, back in zip(samples, fronts, backs):
        weight = torch.where(front, front_share[target], 0.0).add_(back_share[target].mul_(back))
        wb = weight * alpha
        terms = sources[:, ib] * wb
        terms.addcmul_(sources[:, ia], weight.sub_(wb))
        values.index_add_(1, target, terms)
    return values[:, :size], holes[:size]


def _fill_holes(values: torch.Tensor, holes: torch.Tensor, border: Border) -> torch.Tensor:
    """Fill each horizontal run of holes, in place, from its farther (smaller-disparity) neighbour.

    ``values``: (C, H, W + 4) on the padded grid, disparity last along C; ``holes``: (H, W + 4) bool, never set on
    the spare columns (so runs never cross rows). ``border="black"`` zeroes the runs that touch the frame edge,
    ``"fill"`` only those with no neighbour at all. Returns (H, W + 4) bool, the hole pixels of runs that touch the
    frame edge (black, or stretched from their one neighbour).
    """
    pitch = holes.shape[-1]
    flat = values.view(values.shape[0], -1)
    blank = torch.zeros_like(holes)
    y, x, before, after = hole_runs(holes)
    if y.numel() == 0:
        return blank
    row = y * pitch
    q, left, right = row + x, row + before, row + after  # flat positions: the spare columns keep them in the row
    has_left, has_right = before >= _PAD, after < pitch - _PAD
    d = flat[-1]
    use_left = background_is_left(has_left, has_right, d[left], d[right])
    fill = flat[:, torch.where(use_left, left, right)]
    empty = ~(has_left | has_right) if border == "fill" else ~(has_left & has_right)
    flat[:, q] = fill.masked_fill_(empty, 0.0)
    blank.view(-1)[q] = ~(has_left & has_right)
    return blank


def synthesize_views(
    image: ArrayLike,
    disparity: torch.Tensor | np.ndarray,
    *,
    mode: Mode = "both_half",
    dilate: int = 0,
    tolerance: float = 1.0,
    border: Border = "fill",
    fill: Fill = "spatial",
) -> tuple[ArrayLike, ArrayLike]:
    """Synthesise a stereo pair from one RGB frame and its disparity.

    ``image``: (H, W, 3) uint8 or float ndarray/tensor; ``disparity``: (H, W) px (``x_left - x_right``, larger =
    nearer). ``mode="both_half"`` shifts both eyes half-way (the input is the centre view); ``"right_only"`` keeps the
    input as the left eye. ``dilate``: foreground edge dilation in px. Returns ``(left, right)``, each (H, W, 3), of the
    input's type, dtype and device.
    """
    if mode not in ("both_half", "right_only"):
        raise DepthshotError(f"unknown mode {mode!r} (both_half, right_only)")
    if border not in ("fill", "black"):
        raise DepthshotError(f"unknown border {border!r} (fill, black)")
    if fill not in _STATELESS:
        raise DepthshotError(f"unknown fill {fill!r} for single frames ({', '.join(_STATELESS)}; temporal: "
                             "ViewSynthesizer)")
    if dilate < 0:
        raise DepthshotError(f"dilate must be >= 0, got {dilate}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise DepthshotError(f"image must be (H, W, 3) RGB, got shape {tuple(image.shape)}")
    as_numpy = isinstance(image, np.ndarray)
    if not (str(image.dtype).endswith(("uint8", "float32", "float64", "float16"))):
        raise DepthshotError(f"image must be uint8 or float, got {image.dtype}")
    src = torch.from_numpy(np.ascontiguousarray(image)) if as_numpy else image
    disp = torch.from_numpy(np.asarray(disparity, dtype=np.float32)) if isinstance(disparity, np.ndarray) else disparity
    scale = 1.0 if src.dtype.is_floating_point else 255.0  # the warp works in [0, 1]
    chw = src.permute(2, 0, 1).to(torch.float32) / scale
    disp = dilate_foreground(disp.to(device=src.device, dtype=torch.float32), dilate)
    if mode == "both_half":
        views = [warp_view(chw, disp, s, tolerance=tolerance, border=border, fill=fill).image for s in (0.5, -0.5)]
    else:
        views = [chw, warp_view(chw, disp, -1.0, tolerance=tolerance, border=border, fill=fill).image]
    out = []
    for v in views:
        v = v.permute(1, 2, 0) * scale
        if not src.dtype.is_floating_point:
            v = v.round().clamp(0, 255)
        v = v.to(src.dtype)
        out.append(v.numpy() if as_numpy else v)
    return out[0], out[1]


class ViewSynthesizer:
    """Stereo pairs for the frames of one video in order, with per-eye state for ``fill="temporal"``.

    ``mode``, ``fill``, ``tolerance``, ``border`` as in :func:`warp_view` / :func:`synthesize_views`; ``dilate``:
    foreground edge dilation in px. With ``fill="temporal"`` each eye's holes are filled spatially and then from the
    eye's previous views (:class:`core.stereo.fill.TemporalFill`); pass ``new_shot=True`` at a cut.
    """

    def __init__(self, mode: Mode = "both_half", fill: Fill = "spatial", *, tolerance: float = 1.0,
                 border: Border = "fill", dilate: int = 0) -> None:
        if mode not in ("both_half", "right_only"):
            raise DepthshotError(f"unknown mode {mode!r} (both_half, right_only)")
        if fill not in FILLS:
            raise DepthshotError(f"unknown fill {fill!r} ({', '.join(FILLS)})")
        self.mode, self.fill, self.tolerance, self.border, self.dilate = mode, fill, tolerance, border, dilate
        self._temporal = {s: TemporalFill() for s in self._shifts} if fill == "temporal" else {}

    @property
    def _shifts(self) -> tuple[float, ...]:
        return (0.5, -0.5) if self.mode == "both_half" else (-1.0,)

    def __call__(
        self, image: torch.Tensor, disparity: torch.Tensor, *, new_shot: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(left, right)``, each (3, H, W) float, from ``image`` (3, H, W) float and ``disparity`` (H, W) px."""
        disparity = dilate_foreground(disparity.to(device=image.device, dtype=torch.float32), self.dilate)
        spatial = "spatial" if self.fill == "temporal" else self.fill
        views = {}
        for s in self._shifts:
            res = warp_view(image, disparity, s, tolerance=self.tolerance, border=self.border, fill=spatial)
            views[s] = res.image
            if self.fill == "temporal":
                filler = self._temporal[s]
                if new_shot:
                    filler.reset()
                views[s] = filler(res.image, res.disparity, res.holes)
        if self.mode == "both_half":
            return views[0.5], views[-0.5]
        return image, views[-1.0]
