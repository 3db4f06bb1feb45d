"""Depth jobs of movie strips as plain data: the job fields, where the pass goes, checks before starting (no bpy).

A job is the dict of ``core.depth.DepthJob`` fields the worker receives (paths absolute, as strings). Its pass
folder is named after every field that changes the result, so changed settings give a new pass; whether a finished
pass in that folder is this job's own is still the worker's call (``done.reused``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

PATCH = 14  # the ViT patch size: input sizes are multiples of it


def strip_time_range(frame_start: float, final_start: int, final_end: int, fps: float) -> tuple[float, float]:
    """Source-time seconds ``(start, end)`` of a strip's visible part.

    ``frame_start``: scene frame of the source's first frame; ``final_start``/``final_end``: the visible scene frames
    ``[final_start, final_end)`` after trims; ``fps``: the source's frame rate.
    """
    if fps <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    return (final_start - frame_start) / fps, (final_end - frame_start) / fps


def job_key(job: dict) -> str:
    """Eight hex digits naming everything in ``job`` (any task's fields) but its output folder."""
    fields = {k: round(v, 6) if isinstance(v, float) else v for k, v in job.items() if k != "output"}
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]


def pass_name(strip_name: str, job: dict) -> str:
    """Folder name of the pass of ``job`` for the strip ``strip_name``: ``<strip>-<model>-<key>``."""
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', strip_name)}-{job['model']}-{job_key(job)}"


def writable_folder(path: Path) -> bool:
    """Whether ``path`` can be created and written: its nearest existing ancestor is a writable folder."""
    for folder in (path, *path.parents):
        if folder.exists():
            return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
    return False


def check_job(job: dict, device: str) -> str | None:
    """The one-line reason ``job`` cannot start, or None. ``device``: "auto", "cuda" or "cpu"."""
    source = Path(job["input"])
    if not source.is_file():
        return f"the strip's video is missing: {source}"
    if job.get("weights") and not Path(job["weights"]).is_file():
        return f"the weights file is missing: {job['weights']}"
    size = job.get("input_size")
    if not isinstance(size, int) or size < PATCH or size % PATCH:
        return f"Input Size must be a multiple of {PATCH} (e.g. {max(PATCH, round((size or 0) / PATCH) * PATCH)}), got {size}"
    if job.get("max_res") is not None and job["max_res"] < PATCH:
        return f"Max Resolution must be at least {PATCH}, got {job['max_res']}"
    if job.get("precision") == "fp16" and device == "cpu":
        return "FP16 runs only on CUDA: choose FP32 or BF16 for the CPU"
    if not writable_folder(Path(job["output"])):
        return f"cannot write the depth pass into {Path(job['output']).parent}"
    return None
