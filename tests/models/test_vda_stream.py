"""Streaming mode of the temporal layers (a ``StreamCache`` passed to the same model) against the reference's
online inference (fixture ``stream_vits.npz``: 100 frames, one at a time)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.models.vda.preprocess import preprocess
from core.models.vda.stream_cache import KEEP, WINDOW, LayerCache, StreamCache

from .vda_fixture_files import VDA_FIXTURES, assert_close_to_reference

ATTENTION_LAYERS = 8  # 4 temporal modules x 1 block x 2 attention blocks


@pytest.fixture(scope="module")
def stream_npz() -> dict[str, np.ndarray]:
    with np.load(VDA_FIXTURES / "stream_vits.npz") as f:
        return dict(f)


def stream(model: torch.nn.Module, frames: np.ndarray, input_size: int) -> tuple[np.ndarray, list, StreamCache]:
    """Run ``frames`` (uint8 [N, H, W, 3]) through the model one at a time with one cache.

    Returns the depth resized to the frame size (float32 [N, H, W]), each frame's attended frame ids per layer
    (taken before the frame ran), and the cache.
    """
    cache = StreamCache()
    height, width = frames.shape[1:3]
    depth, attended = [], []
    with torch.inference_mode():
        for frame in frames:
            attended.append(cache.attended_frame_ids())
            out = model(preprocess(frame[None], input_size)[None], cache=cache)  # (1, 1, th, tw)
            depth.append(F.interpolate(out, size=(height, width), mode="bilinear", align_corners=True)[0, 0].numpy())
    return np.stack(depth), attended, cache


@pytest.fixture(scope="module")
def vits_stream(model_for, stream_npz):
    return stream(model_for("vits"), stream_npz["frames"], int(stream_npz["input_size"]))


def test_stream_depth_equals_reference(vits_stream, stream_npz) -> None:
    depth, _, _ = vits_stream
    ref = stream_npz["depth"]
    assert depth.dtype == np.float32
    assert_close_to_reference(depth, ref)


def test_attended_frames_equal_reference(vits_stream, stream_npz) -> None:
    _, attended, _ = vits_stream
    assert attended[0] == []  # the first frame runs alone
    ids = stream_npz["cached_frame_ids"]
    for k in range(1, len(ids)):
        assert len(attended[k]) == ATTENTION_LAYERS
        for layer_ids in attended[k]:
            assert layer_ids == ids[k].tolist(), f"frame {k}"


def test_cache_is_bounded(vits_stream, stream_npz) -> None:
    """After 100 frames every layer holds frame 0 and the 41 most recent frames, nothing else."""
    _, _, cache = vits_stream
    assert cache.frames == 100
    for layer in cache.layers:
        assert len(layer.states) == KEEP
        assert layer.frame_ids == [0, *range(100 - KEEP + 1, 100)]


def test_cache_memory_stops_growing(model_for, stream_npz) -> None:
    """Cache bytes grow while the window fills, then stay constant (42 distinct states per layer)."""
    frames = stream_npz["frames"][:50]
    sizes = []
    cache = StreamCache()
    with torch.inference_mode():
        for frame in frames:
            model_for("vits")(preprocess(frame[None], 70)[None], cache=cache)
            sizes.append(cache.nbytes())
    assert sizes[0] < sizes[20] < sizes[41]
    assert sizes[41] == sizes[45] == sizes[49]
    per_frame = sizes[0]  # one distinct state per layer after the first frame
    assert sizes[49] == KEEP * per_frame


def test_first_frame_equals_a_one_frame_clip(model_for, stream_npz) -> None:
    """Streaming frame 0 attends to itself only: the offline forward of a 1-frame clip."""
    x = preprocess(stream_npz["frames"][:1], 70)[None]
    model = model_for("vits")
    with torch.inference_mode():
        assert torch.equal(model(x, cache=StreamCache()), model(x))


def test_streaming_takes_one_frame_per_call(model_for) -> None:
    with torch.inference_mode(), pytest.raises(ValueError, match="one frame"):
        model_for("vits")(torch.zeros(1, 2, 3, 28, 28), cache=StreamCache())


def test_layer_cache_window_rule() -> None:
    """The list rule in isolation: 32 copies of frame 0, then frame 0 + the 41 latest, 31 attended."""
    layer = LayerCache()
    state = torch.zeros(1, 1, 1)
    for _ in range(60):
        layer.append(state)
        assert len(layer.states) <= KEEP and len(layer.context()) == WINDOW - 1
    assert layer.context_ids() == [0, 19, *range(31, 60)]


def test_metric_checkpoint_streams_through_the_same_path(vits_weights, stream_npz) -> None:
    """A metric checkpoint (same layout) loads strict and streams through the same code: with the same weights it
    gives the same depth as the relative one."""
    from core.models.weights import load_vda

    loaded = load_vda("vda-s-metric", weights=vits_weights)
    assert loaded.model.metric
    depth, _, _ = stream(loaded.model, stream_npz["frames"][:12], 70)
    assert_close_to_reference(depth, stream_npz["depth"][:12])
