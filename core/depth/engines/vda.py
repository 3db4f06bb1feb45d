"""``vda``: Video Depth Anything over key-frame windows (``core.depth.engine``), resumable inside a shot.

After every window the shot's stitcher state is saved atomically in the pass's ``.work/`` folder (plus, once per
shot, its first frame and features), so a shot interrupted mid-way continues from its last completed window and
gives byte-identical files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_path
from core.depth.depth_pass import DepthPassWriter
from core.depth.engines.base import ShotInput, check_precision
from core.errors import DepthshotError

log = logging.getLogger(__name__)

_STATE_FILE = "engine_state.npz"
_ANCHOR_FILE = "engine_anchor.npz"


@dataclass(frozen=True)
class VdaConfig:
    """``model``: checkpoint id (vda-s, vda-b, vda-l, and their -metric variants); ``weights``: a checkpoint file
    instead of the hub's; ``input_size``: network input short side in pixels (multiple of 14); ``precision``: auto
    (bf16/fp16 autocast on a GPU, fp32 on the CPU: ``core.depth.engine.resolve_precision``), fp32, fp16 or bf16;
    ``reuse_features``: encode each frame once (off only to measure the saving); ``compile``: run the encoder and
    head through ``torch.compile``."""

    model: str = "vda-l"
    weights: Path | None = None
    input_size: int = 518
    precision: str = "auto"
    reuse_features: bool = True
    compile: bool = False


class LoadedVda:
    """VDA weights on one device, ready to run shots."""

    def __init__(self, config: VdaConfig, loaded, device: str) -> None:
        from core.depth.engine import VdaRunner

        self.config = config
        self.metric = loaded.spec.metric
        self.runner = VdaRunner(loaded.model, config.input_size, device=device, precision=config.precision,
                                **self.runner_options(config))
        self.record = {"checkpoint_sha256": loaded.sha256}

    @staticmethod
    def runner_options(config: VdaConfig) -> dict[str, Any]:
        """``VdaRunner`` options of this engine beyond model, size, device and precision."""
        return {"compile": config.compile}

    def run_shot(self, shot: ShotInput, writer: DepthPassWriter, on_frame: Callable[[int], None]) -> None:
        """Depth of one shot into ``writer``; continues from the saved window state when the shot is open there."""
        from core.depth.engine import ShotDepth
        from core.depth.windows import OVERLAP, WINDOW

        reuse = self.config.reuse_features
        decode_from, depth, restore = shot.start, None, None
        saved = _load_shot_state(writer.work_dir, shot.start) if writer.current_shot_start == shot.start else None
        if saved is not None:  # re-decode the last encoded batch, then continue after it
            state, anchor = saved
            windows, received = int(state["stitch_counts"][0]), int(state["received"])
            batch_len = WINDOW if windows == 1 else WINDOW - OVERLAP
            decode_from = shot.start + received - batch_len
            restore = (state, anchor, batch_len, [])
        else:
            depth = ShotDepth(self.runner, self.metric, reuse)
        writer.begin_shot(shot.start)
        log.info("vda: shot at frame %d from frame %d", shot.start, decode_from)

        def write(items) -> None:
            for j, d, pts in items:
                writer.write(shot.start + j, d, pts)
                on_frame(shot.start + j)

        for frame in shot.frames(decode_from):
            if restore is not None:
                state, anchor, batch_len, batch = restore
                batch.append(frame.image)
                if len(batch) == batch_len:
                    depth = ShotDepth.from_state(self.runner, state, anchor, np.stack(batch), reuse)
                    restore = None
                continue
            windows = depth.windows
            write(depth.push(frame.image, frame.pts))
            if depth.windows != windows:  # saved by the writer's disk thread once the frames before it are staged
                if depth.windows == 1:
                    _save_after_writes(writer, writer.work_dir / _ANCHOR_FILE, {"shot_start": shot.start, **depth.anchor()})
                _save_after_writes(writer, writer.work_dir / _STATE_FILE, {"shot_start": shot.start, **depth.state()})
        if restore is not None:
            raise DepthshotError("the video has fewer frames now than the interrupted job had read")
        if depth.received == 0:
            raise DepthshotError(f"no frames to compute depth for from frame {shot.start} (empty --start/--end window?)")
        write(depth.finish())
        writer.end_shot()


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path, durable=True) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _save_after_writes(writer: DepthPassWriter, path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` (copied now) atomically once the frames written to ``writer`` before are on disk."""
    copies = {k: np.array(v, copy=True) for k, v in arrays.items()}
    writer.then(lambda: _atomic_savez(path, copies))


def _load_shot_state(work_dir: Path, shot_start: int) -> tuple[dict, dict] | None:
    """The saved engine state and anchor of the shot starting at ``shot_start``, or None."""
    try:
        with np.load(work_dir / _STATE_FILE) as z:
            state = dict(z)
        with np.load(work_dir / _ANCHOR_FILE) as z:
            anchor = dict(z)
    except (OSError, ValueError):
        return None
    if int(state.pop("shot_start")) != shot_start or int(anchor.pop("shot_start")) != shot_start:
        return None
    return state, anchor


class VdaEngine:
    """The ``vda`` engine (see ``core.depth.engines.base`` for the protocol)."""

    name = "vda"
    config_type = VdaConfig
    needs_shot_length = False
    loaded_type = LoadedVda

    def check(self, config: VdaConfig) -> None:
        from core.models.weights import get_spec

        get_spec(config.model)
        if config.input_size < 14 or config.input_size % 14:
            raise DepthshotError(f"--input-size must be a positive multiple of 14, got {config.input_size}")
        check_precision(config.precision)

    def kind(self, config: VdaConfig) -> str:
        from core.models.weights import get_spec

        return "metric_depth" if get_spec(config.model).metric else "relative_inverse_depth"

    def fingerprint(self, config: VdaConfig, device: str) -> dict[str, Any]:
        from core.depth.engine import resolve_precision

        record = {"engine": self.name, "id": config.model, "input_size": config.input_size,
                  "precision": resolve_precision(config.precision, device)}
        return {**record, **self.options_record(config)}

    def options_record(self, config: VdaConfig) -> dict[str, Any]:
        """What this engine's own options add to the fingerprint."""
        return {"compile": config.compile}

    def load(self, config: VdaConfig, device: str) -> LoadedVda:
        from core.models.weights import load_vda

        return self.loaded_type(config, load_vda(config.model, config.weights, device=device), device)


ENGINE = VdaEngine()
