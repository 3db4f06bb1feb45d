"""The depth pass's PNG writer (core.depth.png) and quantisation: the same pixel values, whoever decodes them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from core.depth.depth_pass import quantize
from core.depth.png import encode_png, write_png


@pytest.mark.parametrize("dtype, shape", [(np.uint16, (1080, 1920)), (np.uint16, (37, 5)), (np.uint16, (1, 1)),
                                          (np.uint8, (30, 41)), (np.uint8, (1, 7))])
def test_written_pngs_decode_to_the_same_values_in_opencv_and_pillow(tmp_path, dtype, shape):
    rng = np.random.default_rng(shape[0])
    image = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    image.flat[:2] = [0, np.iinfo(dtype).max]  # both ends of the range
    path = tmp_path / "f.png"
    write_png(path, image)
    via_cv2 = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert via_cv2.dtype == dtype and np.array_equal(via_cv2, image)
    with Image.open(path) as im:
        assert im.mode == ("I;16" if dtype == np.uint16 else "L")
        assert np.array_equal(np.asarray(im).astype(dtype), image)


def test_smooth_depth_compresses_well_and_the_bytes_depend_only_on_the_pixels():
    y, x = np.mgrid[0:270, 0:480]
    image = (20000 + 40 * y + 3 * x + 500 * np.sin(x / 30)).astype(np.uint16)
    once, again = b"".join(encode_png(image)), b"".join(encode_png(image.copy()))
    assert once == again
    assert len(once) < 0.25 * image.nbytes  # a smooth ramp: the Sub filter leaves small, repetitive differences


def test_only_greyscale_8_and_16_bit_images_are_encoded():
    for bad in (np.zeros((4, 4), np.float32), np.zeros((4, 4, 3), np.uint8), np.zeros((0, 4), np.uint16)):
        with pytest.raises(ValueError):
            encode_png(bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_quantize_in_row_blocks_equals_the_plain_float64_formula(dtype):
    rng = np.random.default_rng(1)
    depth = (rng.random((77, 53)) * 3 - 1).astype(dtype)  # 77 rows: blocks of 32 and a short last one
    lo, hi = float(depth.min()) + 0.1, float(depth.max()) - 0.1  # values outside the range clip
    plain = np.clip(np.rint((depth.astype(np.float64) - lo) * (65535 / (hi - lo))), 0, 65535).astype(np.uint16)
    q = quantize(depth, lo, hi)
    assert q.dtype == np.uint16 and np.array_equal(q, plain)
    assert q.min() == 0 and q.max() == 65535
