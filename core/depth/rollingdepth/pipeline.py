"""The RollingDepth pipeline for one shot, with memory bounded by latents, not images.

1. Stream the frames once: resize, VAE-encode (``vae_batch`` at a time), keep only RGB latents.
2. Per dilation, denoise every 3-frame snippet in one step from the shared noise; keep the depth
   latents; decode them straight away only to take the co-alignment's pixel samples and the minimum.
3. Fit one scale/shift per snippet on those samples (:mod:`coalign`).
4. Per frame, decode the latents of the snippets showing it again and merge them (plain mean).
5. Optional refinement: encode the clip-normalised merged depth, re-noise to t=499 and denoise in
   ``refine_steps`` snippet steps of shrinking dilation, averaging overlapping latents; decode.

Depth is yielded per frame at the input frame size, as relative inverse depth (larger = nearer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch

from core.depth.rollingdepth.coalign import Alignment, fit_alignment, merge_observations, sample_grid, sample_pixels
from core.depth.rollingdepth.latents import decode_depth, encode, encode_depth, prepare_rgb, processing_size, resize
from core.depth.rollingdepth.model import RollingDepthModel, denoise_snippets
from core.depth.rollingdepth.presets import PipelineConfig
from core.depth.rollingdepth.snippets import (
    cap_dilation,
    effective_snippet_len,
    feasible_dilation,
    frame_observations,
    plan_dilations,
    refine_dilations,
    snippet_indices,
)
from core.errors import DepthshotError
from core.progress import OnProgress, Stage

log = logging.getLogger(__name__)


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def encode_shot(
    model: RollingDepthModel,
    read_frames: Callable[[], Iterator[np.ndarray]],
    n_frames: int,
    config: PipelineConfig,
    on_progress: OnProgress | None = None,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Encode all frames of the shot: RGB latents ``[L, 4, h, w]`` (model dtype, on CPU) and the frame size (H, W)."""
    latents: list[torch.Tensor] = []
    frame_size: tuple[int, int] | None = None
    with Stage(on_progress, "encode", n_frames) as stage:
        for batch in _batches(read_frames(), config.vae_batch):
            frames = np.stack(batch)
            if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
                raise ValueError(f"expected uint8 RGB frames [H, W, 3], got {frames.dtype} {frames.shape[1:]}")
            if frame_size is None:
                frame_size = frames.shape[1:3]
            elif frames.shape[1:3] != frame_size:
                raise ValueError("the frames of a shot must all have the same size")
            size = processing_size(*frame_size, config.resolution)
            if min(size) < 8:
                raise DepthshotError(f"frames of {frame_size[1]}x{frame_size[0]} are too small for RollingDepth")
            latents.append(encode(model.vae, prepare_rgb(frames, size, model.device, model.dtype)).cpu())
            stage.update(len(batch))
    count = sum(len(x) for x in latents)
    if count != n_frames:
        raise DepthshotError(f"the shot has {count} frames, expected {n_frames}")
    return torch.cat(latents), frame_size


def _fit_grid(height: int, width: int, observations: int, config: PipelineConfig) -> tuple[np.ndarray, np.ndarray]:
    """The co-alignment pixel grid: the configured factor, made sparser for long shots to stay in budget."""
    factor = config.coalign.factor
    rows, cols = sample_grid(height, width, config.coalign.border, factor)
    while observations * rows.size * cols.size > config.max_coalign_values and rows.size * cols.size > 1:
        factor += 1
        rows, cols = sample_grid(height, width, config.coalign.border, factor)
    if factor != config.coalign.factor:
        log.info("co-alignment samples every %d-th pixel (long shot)", factor)
    return rows, cols


def predict_snippets(
    model: RollingDepthModel,
    rgb: torch.Tensor,
    noise: torch.Tensor,
    indices: list[np.ndarray],
    config: PipelineConfig,
    on_progress: OnProgress | None = None,
) -> tuple[list[torch.Tensor], list[torch.Tensor], float]:
    """One-step snippet inference for every dilation group.

    Returns per group the depth latents ``[N_g, n, 4, h, w]`` (CPU), the co-alignment samples
    ``[N_g, n, P]`` (float32, model device) and the minimum decoded depth value over all snippets.
    """
    scheduler = model.scheduler(1)
    timestep = int(scheduler.timesteps[0])
    height, width = 8 * rgb.shape[-2], 8 * rgb.shape[-1]
    rows, cols = _fit_grid(height, width, sum(i.size for i in indices), config)
    latents, samples, offset = [], [], float("inf")
    with Stage(on_progress, "snippets", sum(len(i) for i in indices)) as stage:
        for idx in indices:
            group_latents = torch.empty((*idx.shape, *rgb.shape[1:]), dtype=model.dtype)
            group_samples = torch.empty((*idx.shape, rows.size * cols.size), device=model.device)
            for start in range(0, len(idx), config.snippet_batch):
                rows_b = slice(start, start + config.snippet_batch)
                frames = torch.as_tensor(idx[rows_b])
                snippet_rgb = rgb[frames].to(model.device)
                out = denoise_snippets(model, scheduler, snippet_rgb, noise.expand_as(snippet_rgb), timestep)
                group_latents[rows_b] = out.cpu()
                depth = torch.cat([decode_depth(model.vae, part) for part in out.flatten(0, 1).split(config.vae_batch)])
                offset = min(offset, float(depth.min()))
                group_samples[rows_b] = sample_pixels(depth.float(), rows, cols).unflatten(0, out.shape[:2])
                stage.update(len(frames))
            latents.append(group_latents)
            samples.append(group_samples)
    return latents, samples, offset


def merged_frames(
    model: RollingDepthModel,
    latents: list[torch.Tensor],
    indices: list[np.ndarray],
    seq_len: int,
    alignment: Alignment,
    config: PipelineConfig,
    on_progress: OnProgress | None = None,
) -> Iterator[torch.Tensor]:
    """Co-aligned depth per frame ``[8h, 8w]`` float32 (decodes the snippet latents showing each frame)."""
    with Stage(on_progress, "merge", seq_len) as stage:
        for seen in frame_observations(indices, seq_len):
            stacked = torch.stack([latents[g][k, j] for g, k, j in seen]).to(model.device)
            values = torch.cat([decode_depth(model.vae, part) for part in stacked.split(config.vae_batch)])
            scales = torch.stack([alignment.scales[g][k] for g, k, _ in seen])
            shifts = torch.stack([alignment.shifts[g][k] for g, k, _ in seen])
            yield merge_observations(values.float(), scales, shifts, alignment.offset)
            stage.update(1)


def refine_schedule(seq_len: int, config: PipelineConfig) -> tuple[int, list[int]]:
    """Snippet length and per-step dilations of the refinement for a clip of ``seq_len`` frames."""
    n = effective_snippet_len(seq_len, config.refine_snippet_len)
    start = config.refine_start_dilation
    if config.cap_dilation:
        start = cap_dilation(seq_len, n, start)
    steps = refine_dilations(config.refine_steps, max(start, 1))
    return n, [feasible_dilation(seq_len, n, d) for d in steps]


def refine_latents(
    model: RollingDepthModel,
    rgb: torch.Tensor,
    depth: torch.Tensor,
    noise: torch.Tensor,
    config: PipelineConfig,
    on_progress: OnProgress | None = None,
) -> torch.Tensor:
    """Diffusion refinement of depth latents ``[L, 4, h, w]`` (CPU) -> refined latents (CPU, float32).

    Re-noises to the middle of the schedule (t=499 for 10 steps) with the shared noise, then each step
    denoises all snippets of that step's dilation from the same latents and averages overlaps per frame.
    """
    steps = config.refine_steps
    scheduler = model.scheduler(2 * steps)
    timesteps = scheduler.timesteps[steps:]
    seq_len = len(depth)
    n, dilations = refine_schedule(seq_len, config)
    z = scheduler.add_noise(depth.float(), noise.float().cpu().expand_as(depth), timesteps[:1].cpu())
    with Stage(on_progress, "refine", steps) as stage:
        for t, dilation in zip(timesteps.tolist(), dilations):
            idx = snippet_indices(seq_len, n, dilation)
            total = torch.zeros_like(z)
            count = torch.zeros(seq_len)
            for start in range(0, len(idx), config.snippet_batch):
                frames = torch.as_tensor(idx[start : start + config.snippet_batch])
                out = denoise_snippets(model, scheduler, rgb[frames].to(model.device), z[frames].to(model.device), t)
                total.index_add_(0, frames.flatten(), out.flatten(0, 1).float().cpu())
                count.index_add_(0, frames.flatten(), torch.ones(frames.numel()))
            covered = count > 0
            z[covered] = total[covered] / count[covered, None, None, None]
            stage.update(1)
    return z


@torch.inference_mode()
def estimate_shot(
    model: RollingDepthModel,
    read_frames: Callable[[], Iterator[np.ndarray]],
    n_frames: int,
    config: PipelineConfig,
    on_progress: OnProgress | None = None,
) -> Iterator[np.ndarray]:
    """Run RollingDepth on one shot; yields float32 ``[H, W]`` relative inverse depth per frame, in order.

    ``read_frames()`` is called once and yields uint8 RGB ``[H, W, 3]``; only latents are kept.
    Without refinement the values are the co-aligned merge (the reference's output up to its clip-wide
    affine normalisation); with refinement, the refined depth in about [-1, 1].
    """
    if n_frames < 1:
        raise DepthshotError("a shot needs at least one frame")
    rgb, frame_size = encode_shot(model, read_frames, n_frames, config, on_progress)
    n = effective_snippet_len(n_frames, config.snippet_len)
    dilations = plan_dilations(n_frames, n, list(config.dilations), config.cap_dilation)
    indices = [snippet_indices(n_frames, n, d) for d in dilations]
    generator = torch.Generator().manual_seed(config.seed)
    noise = torch.randn((1, *rgb.shape[1:]), generator=generator).to(model.device, model.dtype)
    log.debug("RollingDepth: %d frames, snippet length %d, dilations %s", n_frames, n, dilations)

    latents, samples, offset = predict_snippets(model, rgb, noise, indices, config, on_progress)
    alignment = fit_alignment(samples, indices, n_frames, offset, config.coalign, on_progress)
    del samples

    def merged() -> Iterator[torch.Tensor]:
        return merged_frames(model, latents, indices, n_frames, alignment, config, on_progress)

    if config.refine_steps:
        lo, hi = float("inf"), float("-inf")
        for frame in merged():
            lo, hi = min(lo, float(frame.min())), max(hi, float(frame.max()))
        span = max(hi - lo, 1e-12)
        encoded = [
            encode_depth(model.vae, ((torch.stack(batch) - lo) / span * 2 - 1).to(model.dtype)).cpu()
            for batch in _batches(merged(), config.vae_batch)
        ]
        refined = refine_latents(model, rgb, torch.cat(encoded), noise, config, on_progress)
        outputs: Iterator[torch.Tensor] = (
            depth
            for part in refined.split(config.vae_batch)
            for depth in decode_depth(model.vae, part.to(model.device, model.dtype))
        )
    else:
        outputs = merged()
    for depth in outputs:
        yield resize(depth.float()[None, None], frame_size)[0, 0].cpu().numpy()
