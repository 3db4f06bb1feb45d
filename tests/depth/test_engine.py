"""The streaming engine against the reference long-video run (long_vits.npz), feature reuse, resume state."""

import numpy as np
import pytest

from core.depth.engine import ShotDepth, VdaRunner, WindowRecord
from core.depth.windows import WINDOW, window_frame_index


def run_shot(shot: ShotDepth, frames: np.ndarray) -> tuple[np.ndarray, list[float]]:
    out = []
    for i, f in enumerate(frames):
        out += shot.push(f, i / 24)
    out += shot.finish()
    assert [i for i, _, _ in out] == list(range(len(frames)))
    return np.stack([d for _, d, _ in out]), [p for _, _, p in out]


def frame_ids(window: np.ndarray, frames: np.ndarray) -> list[int]:
    """Which video frame each window position holds (frames of the test video are all distinct)."""
    return [int(np.flatnonzero((frames == f).all(axis=(1, 2, 3)))[0]) for f in window]


def test_long_video_matches_reference(runner, long):
    frames, ref = long["frames"], long["depth"]
    records: list[WindowRecord] = []
    depth, pts = run_shot(ShotDepth(runner, metric=False, on_window=records.append), frames)

    ids = np.array([frame_ids(r.frames, frames) for r in records])
    np.testing.assert_array_equal(ids, long["window_frame_index"])
    np.testing.assert_array_equal(window_frame_index(len(frames)), long["window_frame_index"])
    # the network output per window, at network resolution (forward rule of the fixture README)
    for k, idx in enumerate(long["window_frame_index"]):
        out = runner.network_output(runner.encode(frames[idx]), 60, 100).numpy()
        ref_k = long["window_out"][k]
        rng = ref_k.max() - ref_k.min()
        assert np.abs(out - ref_k).max() <= 5e-5 * rng
        assert np.abs(out - ref_k).mean() <= 5e-6 * rng
    rng = ref.max() - ref.min()
    assert np.abs(depth - ref).max() <= 5e-5 * rng
    fits = np.array([r.scale_shift for r in records[1:]])
    np.testing.assert_allclose(fits, long["scale_shift"], rtol=1e-4)
    assert pts == pytest.approx([i / 24 for i in range(len(frames))])


def test_feature_reuse_changes_nothing(runner, long):
    frames = long["frames"][:50]
    with_reuse, _ = run_shot(ShotDepth(runner, metric=False, reuse_features=True), frames)
    encoded = []
    original = runner.encode

    def counting(x):
        encoded.append(len(x))
        return original(x)

    runner.encode = counting
    try:
        run_shot(ShotDepth(runner, metric=False, reuse_features=True), frames)
        assert encoded == [WINDOW, WINDOW - 10, WINDOW - 10]  # with reuse: each frame once (window 2 is padded)
        encoded.clear()
        without, _ = run_shot(ShotDepth(runner, metric=False, reuse_features=False), frames)
    finally:
        del runner.encode
    assert encoded == [WINDOW, WINDOW, WINDOW]  # 50 frames: 3 windows, every position encoded
    rng = without.max() - without.min()
    assert np.abs(with_reuse - without).max() <= 5e-5 * rng


def run_resumed(runner: VdaRunner, frames: np.ndarray, windows: int) -> np.ndarray:
    """Depth of ``frames`` run until ``windows`` windows' frames are out, saved there (state, anchor: numpy as in
    a resume file, the way the vda engine saves) and resumed with ``ShotDepth.from_state``: float32 [N, H, W]."""
    first = ShotDepth(runner, metric=False)
    out, i = [], 0
    while first.windows < windows:
        out += first.push(frames[i], i / 24)
        i += 1
    state = {k: np.array(v) for k, v in first.state().items()}
    anchor = {k: np.array(v) for k, v in first.anchor().items()}
    stop = int(state["received"])
    assert stop == 32 + 22 * (windows - 1) and len(out) == 24 + 22 * (windows - 1)
    assert i > stop  # the network had run the next window when this one's frames came out
    batch = frames[stop - first.batch_frames : stop]
    resumed = ShotDepth.from_state(runner, state, anchor, batch)
    assert resumed.received == stop
    for i, f in enumerate(frames[stop:], start=stop):
        out += resumed.push(f, i / 24)
    out += resumed.finish()
    assert [i for i, _, _ in out] == list(range(len(frames)))
    return np.stack([d for _, d, _ in out])


@pytest.mark.parametrize("windows", [1, 2])  # saved once window 0's frames are out, once window 1's are
def test_resume_from_state_is_bit_identical(runner, long, windows):
    frames = long["frames"][:80]
    full, _ = run_shot(ShotDepth(runner, metric=False), frames)
    assert np.array_equal(run_resumed(runner, frames, windows), full)


def test_resume_in_bf16_is_bit_identical(runner, long):
    # the anchor's bf16 features go through float32 numpy and back (ShotDepth.anchor / from_state)
    half = VdaRunner(runner.model, runner.input_size, device="cpu", precision="bf16")
    frames = long["frames"][:60]
    full, _ = run_shot(ShotDepth(half, metric=False), frames)
    assert np.array_equal(run_resumed(half, frames, 1), full)


def test_short_shots(runner, long):
    for n in (1, 5, 23):
        depth, _ = run_shot(ShotDepth(runner, metric=False), long["frames"][:n])
        assert depth.shape == (n, 60, 100) and depth.dtype == np.float32


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_engine_runs_in_half_precision_autocast(runner, long, precision):
    # the whole engine (device pre-processing, batching, stitching), not only the model, under CPU autocast
    frames = long["frames"][:40]
    ref, _ = run_shot(ShotDepth(runner, metric=False), frames)
    half = VdaRunner(runner.model, runner.input_size, device="cpu", precision=precision, encode_batch=11)
    assert half.describe()["precision"] == precision
    depth, _ = run_shot(ShotDepth(half, metric=False), frames)
    assert depth.dtype == np.float32 and np.isfinite(depth).all()
    err = np.abs(depth - ref).max() / (ref.max() - ref.min())
    assert 0 < err <= 0.05  # lower precision really ran, and stays near fp32 (fixture README: ~1e-2 of range)


def test_precision_auto_and_batch_sizes_follow_the_device_and_the_work(runner):
    from core.depth.engine import batch_sizes, resolve_precision

    assert resolve_precision("auto", "cpu") == "fp32" and resolve_precision("fp16", "cpu") == "fp16"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp8", "cpu")
    model = runner.model
    small = batch_sizes(model, 70, 112, "fp32", free_bytes=8 << 30)
    assert small.encode == WINDOW and small.decode == WINDOW  # tiny frames: a window in one call
    big = batch_sizes(model, 518, 924, "fp32", free_bytes=1 << 30)
    assert 1 <= big.encode < WINDOW and 1 <= big.decode < WINDOW  # large frames in little memory: smaller calls
    assert batch_sizes(model, 518, 924, "bf16", free_bytes=1 << 30).encode >= big.encode


def test_resume_keeps_the_batch_sizes_of_the_first_run(runner, long):
    frames = long["frames"][:60]
    first = VdaRunner(runner.model, runner.input_size, device="cpu", encode_batch=5, decode_chunk=7)
    shot = ShotDepth(first, metric=False)
    for i, f in enumerate(frames[:54]):  # window 0's frames come out once window 1 has run
        shot.push(f, i / 24)
    state = {k: np.array(v) for k, v in shot.state().items()}
    again = VdaRunner(runner.model, runner.input_size, device="cpu")  # would choose its own sizes
    ShotDepth.from_state(again, state, shot.anchor(), frames[:32])
    assert (again.encode_batch, again.decode_chunk) == (5, 7)
