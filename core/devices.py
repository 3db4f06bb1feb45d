"""Choosing the torch device, once for every command: ``auto`` (or nothing) means CUDA when torch sees a GPU."""

from __future__ import annotations

import os
import re

from core.errors import DepthshotError

_NAMES = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def resolve_device(name: str | None) -> str:
    """The device to run on: ``None``/``auto`` -> ``cuda`` when available, else ``cpu``; ``cpu``, ``cuda``,
    ``cuda:N`` and ``mps`` are checked to exist. DepthshotError (one line) for anything else."""
    name = (name or "auto").strip().lower()
    if not _NAMES.match(name):
        raise DepthshotError(f"unknown device {name!r} (auto, cpu, cuda, cuda:N or mps)")
    if name == "cpu":
        return name
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise DepthshotError("--device mps: no Apple GPU is available")
        return name
    if not torch.cuda.is_available():
        raise DepthshotError(f"--device {name}: no CUDA device is available")
    index = int(name.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise DepthshotError(f"--device {name}: there are only {torch.cuda.device_count()} CUDA devices")
    return name


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_left_free(device: str) -> bool:
    """Whether a depth engine on ``device`` leaves CPU time for work done ahead of need (a depth pass's PNGs): on a
    GPU with at least 4 cores (the engine's, stitching, decode and staging threads mostly wait), on the CPU when
    torch's threads leave a core beside them (measured on 2 cores with 1 torch thread: the whole job 5-10 % faster
    with PNGs encoded ahead; README, Speed and memory)."""
    import torch

    cores = cpu_cores()
    if device != "cpu":
        return cores >= 4
    return torch.get_num_threads() < cores
