"""Synthetic depth passes with a real (lossless) source video, for the geometry commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.depth.depth_pass import MASK_PATTERN, DepthPass, DepthPassWriter, PassInfo
from core.video import EncodeSettings, VideoWriter
from tests.shared_data import TUM

FPS = 10.0


def frame_image(i: int, width: int, height: int) -> np.ndarray:
    """A colourful frame (H, W, 3) uint8 that differs per frame: red ramp in x, green in y, blue = 40 * i."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    return np.stack([x, y, np.full_like(x, 40.0 * i)], axis=-1).round().astype(np.uint8)


def step_depth(width: int, height: int) -> np.ndarray:
    """Metric depth (H, W): 2 m on the left half, 4 m on the right half."""
    depth = np.full((height, width), 2.0, np.float32)
    depth[:, width // 2 :] = 4.0
    return depth


def make_pass(
    root: Path,
    depths: list[np.ndarray],
    *,
    kind: str = "metric_depth",
    with_video: bool = True,
    intrinsics: dict[str, float] | None = None,
    masks: list[np.ndarray] | None = None,
    images: list[np.ndarray] | None = None,
    cuts: tuple[int, ...] = (),
) -> DepthPass:
    """Write ``depths`` (each (H, W)) as a pass in ``root/pass`` with an RGB ffv1 source video (and the validity
    ``masks``, uint8 flags per frame, when given; the video shows ``images`` when given, else
    :func:`frame_image`): one shot, or a new shot at each frame index in ``cuts``."""
    h, w = depths[0].shape
    video = root / "clip.mkv"
    if with_video:
        with VideoWriter(video, w, h, FPS, EncodeSettings(codec="ffv1", pix_fmt="rgb24")) as out:
            for i in range(len(depths)):
                out.write(frame_image(i, w, h) if images is None else images[i], i / FPS)
    info = PassInfo(source=str(video) if with_video else "", fps=FPS, width=w, height=h, kind=kind,
                    intrinsics=intrinsics, mask_pattern=MASK_PATTERN if masks is not None else None)
    writer = DepthPassWriter(root / "pass", info)
    writer.begin_shot(0)
    for i, d in enumerate(depths):
        if i in cuts:
            writer.end_shot()
            writer.begin_shot(i)
        writer.write(i, d, i / FPS, None if masks is None else masks[i])
    writer.end_shot()
    return writer.close()


@pytest.fixture
def step_pass(tmp_path: Path) -> DepthPass:
    """3 frames of 64x48 metric step depth (2 m | 4 m) with a lossless source video."""
    return make_pass(tmp_path, [step_depth(64, 48) for _ in range(3)])


@pytest.fixture
def pass_factory(tmp_path: Path) -> Callable[..., DepthPass]:
    return lambda depths, **kw: make_pass(tmp_path, depths, **kw)


@pytest.fixture(scope="session")
def tum() -> Path:
    """The shared real RGB-D clip (640x480 Kinect): rgb.mp4, depth/NNNNN.png (metres * 5000), intrinsics.json."""
    if not TUM.is_dir():
        pytest.skip("shared data tum_fr1_xyz is not beside the checkout")
    return TUM.resolve()
