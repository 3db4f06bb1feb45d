"""Depth co-alignment: one scale and shift per snippet so that all snippets agree, then a plain-mean merge.

Objective (RollingDepth's ``DepthAligner`` with its fixed defaults): robust L1 between every aligned
snippet value and the per-frame mean of all snippets showing that frame, both in inverse depth and in
depth (its reciprocal), each normalised by the frame's mean absolute target, plus a hinge keeping
scales >= 1 and a shift penalty; fitted with Adam on a sub-sampled pixel grid.
The fit only needs the sampled pixels ``[N, n, P]``, so long clips never hold full-resolution snippets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.depth.rollingdepth.snippets import frame_observations
from core.progress import OnProgress, Stage


@dataclass(frozen=True)
class CoalignConfig:
    """Aligner settings; the defaults are the reference's (the pipeline never changes them)."""

    factor: int = 10  # keep every factor-th row/column ...
    border: int = 2  # ... after cropping this many pixels on each side
    iterations: int = 2000
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.9)
    lambda_scale: float = 0.1
    lambda_shift: float = 10.0
    inverse_weight: float = 1.0
    inverse_clip: float = 1e-3


@dataclass
class Alignment:
    """Fitted per-snippet ``scales[g]``/``shifts[g]`` ([N_g] float32), the ``offset`` subtracted from every
    snippet value first (the global minimum), and ``loss_history`` [iterations] float64 (objective before
    each update)."""

    scales: list[torch.Tensor]
    shifts: list[torch.Tensor]
    offset: float
    loss_history: np.ndarray


def sample_grid(height: int, width: int, border: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the fit's pixel grid: every ``factor``-th pixel inside a ``border`` crop."""
    if border < 1 or factor < 1:
        raise ValueError(f"border and factor must be >= 1, got {border}, {factor}")
    rows = np.arange(border, height - border, factor)
    cols = np.arange(border, width - border, factor)
    if rows.size == 0 or cols.size == 0:
        raise ValueError(f"a {height}x{width} map has no pixels inside a border of {border}")
    return rows, cols


def sample_pixels(depth: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
    """Grid pixels of maps ``[..., H, W]`` -> ``[..., P]`` with ``P = len(rows) * len(cols)``."""
    r = torch.as_tensor(rows, device=depth.device)
    c = torch.as_tensor(cols, device=depth.device)
    return depth.index_select(-2, r).index_select(-1, c).flatten(-2)


def fit_alignment(
    samples: list[torch.Tensor],
    indices: list[np.ndarray],
    seq_len: int,
    offset: float,
    config: CoalignConfig = CoalignConfig(),
    on_progress: OnProgress | None = None,
) -> Alignment:
    """Fit a scale and shift per snippet (Adam, full batch; gradients written out, no autograd graph).

    Args:
        samples: per dilation group, sampled snippet values ``[N_g, n, P]`` (any float dtype; one ``n``
            for all groups).
        indices: per group, the frames shown ``[N_g, n]`` (from ``snippet_indices``).
        seq_len: number of frames L of the clip.
        offset: the minimum over all (full-resolution) snippet values; subtracted before fitting.
        on_progress: ``(stage, done, total)`` callback, per iteration (stage "co-alignment").
    """
    if len({int(s.shape[1]) for s in samples}) != 1:
        raise ValueError("all dilation groups must use the same snippet length")
    device = samples[0].device
    counts = [int(s.shape[0]) for s in samples]
    values = torch.cat([s.float() for s in samples]) - offset  # [S, n, P]
    n_snip, snippet_len, pixels = values.shape
    frame_of = torch.as_tensor(np.concatenate([i.reshape(-1) for i in indices]), device=device)  # [S*n]
    shows = torch.bincount(frame_of, minlength=seq_len).float()
    if bool((shows == 0).any()):
        raise ValueError("some frame is shown by no snippet")
    norm = float(len(samples) * snippet_len * seq_len * pixels)  # R * L * P
    group_weight = torch.cat([torch.full((c,), 1.0 / c, device=device) for c in counts])  # mean over a group

    scale = torch.ones(n_snip, device=device)
    shift = torch.zeros(n_snip, device=device)
    scale.grad = torch.zeros_like(scale)
    shift.grad = torch.zeros_like(shift)
    optimiser = torch.optim.Adam([scale, shift], lr=config.lr, betas=config.betas)
    history = torch.empty(config.iterations, dtype=torch.float64, device=device)
    flat = values.reshape(n_snip * snippet_len, pixels)

    stage = Stage(on_progress, "co-alignment", config.iterations)
    for it in range(config.iterations):
        aligned = torch.addcmul(shift[:, None], scale[:, None], flat.view(n_snip, -1)).view_as(flat)
        inverse = aligned.clamp(min=config.inverse_clip).reciprocal()
        both = torch.stack([aligned, inverse])  # [2, S*n, P]
        target = torch.zeros(2, seq_len, pixels, device=device).index_add_(1, frame_of, both)
        target /= shows[:, None]
        weight = target.abs().mean(-1).reciprocal()  # [2, L]: 1 / mean |target| per frame
        residual = both - target[:, frame_of]
        signed = residual.sign() * weight[:, frame_of, None]  # d|r|*w / dr
        terms = (residual * signed).sum((1, 2)) / norm  # [2]: linear and reciprocal objective
        hinge = torch.relu(1 - scale)
        regular = (group_weight * (config.lambda_scale * hinge.square() + config.lambda_shift * shift.square())).sum()
        history[it] = terms[0] + config.inverse_weight * terms[1] + regular

        slope = signed[0] - config.inverse_weight * signed[1] * inverse.square() * (aligned >= config.inverse_clip)
        slope = slope.view(n_snip, -1) / norm
        scale.grad = (slope * flat.view(n_snip, -1)).sum(1) - 2 * config.lambda_scale * group_weight * hinge
        shift.grad = slope.sum(1) + 2 * config.lambda_shift * group_weight * shift
        optimiser.step()
        stage.update()

    bounds = np.cumsum([0, *counts])
    scales = [scale[a:b].clone() for a, b in zip(bounds[:-1], bounds[1:])]
    shifts = [shift[a:b].clone() for a, b in zip(bounds[:-1], bounds[1:])]
    return Alignment(scales, shifts, float(offset), history.cpu().numpy())


def merge_observations(
    values: torch.Tensor, scales: torch.Tensor, shifts: torch.Tensor, offset: float
) -> torch.Tensor:
    """One frame from the ``c`` snippet maps showing it: ``mean(s * (x - offset) + t)``.

    values ``[c, H, W]``, scales/shifts ``[c]`` -> ``[H, W]`` (in the dtype of ``values``).
    """
    s = scales.to(values)[:, None, None]
    t = shifts.to(values)[:, None, None]
    return (s * (values - offset) + t).mean(0)


def merge_frames(
    snippets: list[torch.Tensor], indices: list[np.ndarray], seq_len: int, alignment: Alignment
) -> torch.Tensor:
    """Merge snippet maps held in memory (short clips, tests): ``[N_g, n, H, W]`` per group -> ``[L, H, W]``."""
    frames = []
    for seen in frame_observations(indices, seq_len):
        parts = torch.stack([snippets[g][k, j] for g, k, j in seen])
        scales = torch.stack([alignment.scales[g][k] for g, k, _ in seen])
        shifts = torch.stack([alignment.shifts[g][k] for g, k, _ in seen])
        frames.append(merge_observations(parts, scales, shifts, alignment.offset))
    return torch.stack(frames)


def normalize_clip(depth: torch.Tensor) -> torch.Tensor:
    """Min-max normalise a whole clip ``[L, H, W]`` to [-1, 1]."""
    shifted = depth - depth.min()
    return shifted / shifted.max() * 2 - 1
