
import pytest
import torch

from core.errors import DepthshotError
from core.stereo.layouts import Packer, anaglyph, vr_eye_size

W, H = 64, 40


def _eye(x: int) -> torch.Tensor:
    """A grey frame with a white 4-px square whose left edge is at column ``x``."""
    img = torch.full((3, H, W), 0.2)
    img[:, 16:24, x : x + 4] = 1.0
    return img


def _square_x(half: torch.Tensor) -> float:
    cols = torch.nonzero(half[0].max(0).values > 0.6).ravel().float()
    return float(cols.mean())


LEFT, RIGHT = _eye(30), _eye(22)  # near object: the left eye sees it 8 px further right


@pytest.mark.parametrize(
    "layout, size, split, first_is_left, squeeze",
    [
        ("sbs_full", (2 * W, H), "w", True, 1),
        ("sbs_half", (W, H), "w", True, 2),
        ("tb_full", (W, 2 * H), "h", True, 1),
        ("tb_half", (W, H), "h", True, 1),
        ("cross", (2 * W, H), "w", False, 1),
    ],
)
def test_packed_size_and_eye_order(layout, size, split, first_is_left, squeeze):
    packer = Packer(layout, W, H)
    out = packer(LEFT, RIGHT)
    assert packer.size == size and out.shape == (3, size[1], size[0])
    a, b = (out[:, :, : size[0] // 2], out[:, :, size[0] // 2 :]) if split == "w" else (
        out[:, : size[1] // 2], out[:, size[1] // 2 :])
    shift = (_square_x(a) - _square_x(b)) * squeeze
    assert shift == pytest.approx(8.0 if first_is_left else -8.0, abs=0.6)


def test_anaglyph_takes_red_from_the_left_eye_and_cyan_from_the_right():
    white, black = torch.ones(3, 4, 4), torch.zeros(3, 4, 4)
    only_left = anaglyph(white, black)
    only_right = anaglyph(black, white)
    assert only_left[0].min() > 0.8 and only_left[1:].max() == 0
    assert only_right[0].max() == 0 and only_right[1:].min() > 0.8
    packer = Packer("anaglyph", W, H)
    out = packer(LEFT, RIGHT)
    assert packer.size == (W, H)
    # the red channel shows the left eye's square, green/blue the right eye's
    assert _square_x(out[0:1].expand(3, -1, -1)) == pytest.approx(31.5, abs=0.1)
    assert _square_x(out[1:2].expand(3, -1, -1)) == pytest.approx(23.5, abs=0.1)


def test_vr180_remaps_each_eye_to_a_half_sphere():
    packer = Packer("vr180", W, H, hfov_deg=90.0)
    eye = vr_eye_size(W, 90.0)
    assert eye == 128 and packer.size == (2 * eye, eye)
    centre = torch.zeros(3, H, W)
    centre[:, H // 2 - 2 : H // 2 + 2, W // 2 - 2 : W // 2 + 2] = 1.0
    edge = torch.zeros(3, H, W)
    edge[:, H // 2 - 2 : H // 2 + 2, W - 3 :] = 1.0  # the right edge of the frame: 45 degrees right
    out = packer(centre, edge)
    assert out.shape == (3, eye, 2 * eye)
    left, right = out[:, :, :eye], out[:, :, eye:]
    assert _square_x(left) == pytest.approx(eye / 2 - 0.5, abs=1.0)
    # 45 degrees right of centre = a quarter of the eye's width right of its centre
    assert _square_x(right) == pytest.approx(eye * 0.75, abs=2.0)
    assert left[:, :, :10].max() == 0  # outside the camera's field of view is black
    assert Packer("vr180", W, H, hfov_deg=90.0, eye_size=64).size == (128, 64)


@pytest.mark.parametrize(
    "args, kwargs, msg",
    [
        (("diagonal", W, H), {}, "unknown layout"),
        (("vr180", W, H), {}, "field of view"),
        (("vr180", W, H), {"hfov_deg": 200}, "field of view"),
        (("vr180", W, H), {"hfov_deg": 90, "eye_size": 33}, "even"),
    ],
)
def test_bad_layout_options(args, kwargs, msg):
    with pytest.raises(DepthshotError, match=msg):
        Packer(*args, **kwargs)


def test_wrong_eye_size_is_refused():
    with pytest.raises(DepthshotError, match="eyes must be"):
        Packer("sbs_full", W, H)(torch.zeros(3, H, W + 1), torch.zeros(3, H, W + 1))
