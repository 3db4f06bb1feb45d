"""Pre-processing equals the reference (fixture preprocess.npz): size rule, bicubic resize, normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from core.models.vda.preprocess import network_size, preprocess

from .vda_fixture_files import VDA_FIXTURES


@pytest.fixture(scope="module")
def cases() -> dict[str, np.ndarray]:
    with np.load(VDA_FIXTURES / "preprocess.npz") as f:
        return dict(f)


@pytest.mark.parametrize("index", range(8))
def test_preprocess_matches_reference(cases, index: int) -> None:
    image = cases[f"case{index}_image"]
    ref = cases[f"case{index}_tensor"]
    got = preprocess(image[None], int(cases[f"case{index}_input_size"]))
    assert got.dtype.is_floating_point and got.shape == (1, *ref.shape)
    assert np.abs(got[0].numpy() - ref).max() <= 1e-4


@pytest.mark.parametrize(
    ("height", "width", "input_size", "expected"),
    [
        (60, 100, 70, (70, 112)),
        (70, 91, 70, (70, 84)),  # 91/14 = 6.5 rounds half to even
        (60, 80, 60, (70, 84)),  # 60/14 rounds to 56 < 60: ceil
        (100, 60, 70, (112, 70)),
        (36, 100, 70, (42, 112)),  # aspect > 1.78: effective size 42
        (40, 100, 70, (56, 140)),
        (720, 1280, 518, (518, 924)),
        (1080, 1920, 518, (518, 924)),
    ],
)
def test_network_size_rule(height: int, width: int, input_size: int, expected: tuple[int, int]) -> None:
    assert network_size(height, width, input_size) == expected


def test_batch_of_frames_is_processed_frame_by_frame(cases) -> None:
    frames = np.stack([cases["case0_image"], cases["case0_image"][::-1]])
    got = preprocess(frames, 70)
    assert got.shape == (2, 3, 70, 112)
    assert np.abs(got[0].numpy() - cases["case0_tensor"]).max() <= 1e-4
    assert np.abs(got[1].numpy() - preprocess(frames[1:], 70)[0].numpy()).max() == 0


def test_rejects_non_uint8_rgb() -> None:
    with pytest.raises(ValueError, match="uint8 frames"):
        preprocess(np.zeros((1, 8, 8, 3), dtype=np.float32), 70)
