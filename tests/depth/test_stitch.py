import numpy as np
import pytest

from core.depth.stitch import Stitcher
from core.depth.windows import num_windows, useful_windows, window_frame_index

CASES = [1, 10, 22, 23, 24, 32, 33, 44, 83, 100]


@pytest.fixture(scope="module")
def align(vda_fixtures):
    return np.load(vda_fixtures / "align.npz")


def stitch(windows: np.ndarray, n: int, metric: bool = False) -> tuple[np.ndarray, list]:
    st = Stitcher(metric=metric)
    out, fits = [], []
    for w in windows:
        out.append(st.push(w))
        if st.scale_shift is not None:
            fits.append(st.scale_shift)
    out.append(st.finish())
    return np.stack([f for part in out for f in part])[:n], fits


@pytest.mark.parametrize("n", CASES)
def test_stitch_matches_reference(align, n):
    windows = align[f"n{n}_windows"]
    assert len(windows) == num_windows(n)
    got, fits = stitch(windows, n)
    np.testing.assert_allclose(got, align[f"n{n}_out"], rtol=1e-5, atol=1e-5)
    assert np.array_equal(got, align[f"n{n}_out"])  # float32 numpy: bit-exact
    ref_fits = align[f"n{n}_scale_shift"]
    np.testing.assert_allclose(np.array(fits).reshape(ref_fits.shape), ref_fits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", CASES)
def test_skipping_wasted_last_window_changes_nothing(align, n):
    useful = useful_windows(n)
    got, _ = stitch(align[f"n{n}_windows"][:useful], n)
    np.testing.assert_array_equal(got, align[f"n{n}_out"])
    assert useful == (num_windows(n) - 1 if n in (23, 24) else num_windows(n))


def test_metric_skips_the_fit(align):
    got, fits = stitch(align["n83_windows"], 83, metric=True)
    np.testing.assert_allclose(got, align["n83_metric_out"], rtol=1e-5, atol=1e-5)
    assert fits == [(1.0, 0.0)] * 3


def test_state_round_trip_continues_identically(align):
    windows = align["n100_windows"]
    st = Stitcher()
    first = [st.push(windows[0]), st.push(windows[1])]
    saved = {k: v.copy() for k, v in st.state().items()}
    resumed = Stitcher.from_state(saved)
    tail_a = [st.push(w) for w in windows[2:]] + [st.finish()]
    tail_b = [resumed.push(w) for w in windows[2:]] + [resumed.finish()]
    for a, b in zip(tail_a, tail_b):
        assert np.array_equal(a, b)
    got = np.stack([f for part in first + tail_b for f in part])[:100]
    np.testing.assert_array_equal(got, align["n100_out"])
    assert resumed.emitted == st.emitted == 32 + 22 * 4


def test_window_frame_index_matches_reference(vda_fixtures):
    ref = np.load(vda_fixtures / "long_vits.npz")["window_frame_index"]
    np.testing.assert_array_equal(window_frame_index(83), ref)


def test_push_rejects_wrong_window_length():
    with pytest.raises(ValueError):
        Stitcher().push(np.zeros((31, 4, 4), np.float32))
