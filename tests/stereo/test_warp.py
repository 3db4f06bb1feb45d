import numpy as np
import pytest
import torch

from core.errors import DepthshotError
from core.stereo.warp import dilate_foreground, synthesize_views, warp_view

from .scene import desk_scene, psnr, render, true_disparity, visible_in_left

FG, BG, FAR = 200.0, 60.0, 120.0


def _rows(values: list[float], disp: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    img = torch.tensor(values, dtype=torch.float32).expand(3, 4, -1).clone()
    return img, torch.tensor(disp, dtype=torch.float32).expand(4, -1).clone()


def test_nearer_surface_occludes_farther_whatever_the_order():
    w = 24
    vals = [BG] * w
    disp = [0.0] * w
    vals[10:15] = [FG] * 5
    disp[10:15] = [6.0] * 5  # near object moves 6 px left in the right view, onto the background
    img, d = _rows(vals, disp)
    out = warp_view(img, d, -1.0).image[0, 0]
    assert torch.all(out[4:9] == FG)
    # now the far object moves onto the near one: the near one must stay
    vals = [BG] * w
    disp = [0.0] * w
    vals[0:11] = [FAR] * 11
    disp[0:11] = [-6.0] * 11  # a far wall moves 6 px right, over the near object at 11..14
    vals[11:15] = [FG] * 4
    img, d = _rows(vals, disp)
    out = warp_view(img, d, -1.0).image[0, 0]
    assert torch.all(out[11:15] == FG)
    assert torch.all(out[:11] == FAR) and torch.all(out[15:] == BG)


def test_disocclusion_is_filled_from_the_background_side_and_no_holes_remain():
    w = 32
    vals = [BG] * w
    disp = [0.0] * w
    vals[12:18] = [FG] * 6
    disp[12:18] = [5.0] * 6
    img, d = _rows(vals, disp)
    res = warp_view(img, d, -1.0)
    assert res.holes[0, 13:18].all()  # the strip the object uncovered
    assert torch.all(res.image[0, 0, 13:18] == BG)  # filled with background, not foreground
    assert torch.all(res.image[0, 0, 7:13] == FG)


def test_random_disparity_leaves_no_hole_pixels():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, 40, 64, generator=g) * 0.8 + 0.1
    d = (torch.rand(40, 64, generator=g) - 0.3) * 20
    res = warp_view(img, d, -0.5)
    assert res.holes.any()
    assert res.image.min() >= 0.1 - 1e-6 and res.image.max() <= 0.9 + 1e-6


def test_border_fill_or_black():
    img = torch.full((3, 4, 20), 0.5)
    d = torch.full((4, 20), 3.0)
    filled = warp_view(img, d, -1.0).image
    black = warp_view(img, d, -1.0, border="black").image
    assert torch.all(filled == 0.5)
    assert torch.all(black[:, :, 17:] == 0) and torch.all(black[:, :, :17] == 0.5)


def test_subpixel_shift_interpolates_linearly():
    ramp = torch.arange(30, dtype=torch.float32).expand(3, 2, -1).clone()
    res = warp_view(ramp, torch.full((2, 30), 0.25), -1.0)
    assert torch.allclose(res.image[0, 0, 1:28], ramp[0, 0, 1:28] + 0.25, atol=1e-4)


def test_dilation_grows_the_foreground():
    d = torch.zeros(2, 12)
    d[:, 5] = 4.0
    assert dilate_foreground(d, 2)[0].tolist() == [0, 0, 0, 4, 4, 4, 4, 4, 0, 0, 0, 0]


def test_synthesize_views_modes_types_and_direction():
    img = np.zeros((6, 30, 3), np.uint8)
    img[:, 12:15] = 255
    d = np.zeros((6, 30), np.float32)
    d[:, 12:15] = 4.0
    left, right = synthesize_views(img, d)
    assert left.dtype == np.uint8 and left.shape == img.shape
    assert np.flatnonzero(left[0, :, 0] == 255).tolist() == [14, 15, 16]  # near object: left eye sees it to the right
    assert np.flatnonzero(right[0, :, 0] == 255).tolist() == [10, 11, 12]
    left, right = synthesize_views(torch.from_numpy(img).float() / 255, torch.from_numpy(d), mode="right_only")
    assert isinstance(left, torch.Tensor) and torch.equal(left, torch.from_numpy(img).float() / 255)
    assert torch.nonzero(right[0, :, 0] == 1).ravel().tolist() == [8, 9, 10]


@pytest.mark.parametrize(
    "kwargs, image, disp, msg",
    [
        ({"mode": "left"}, np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4)), "unknown mode"),
        ({"dilate": -1}, np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4)), "dilate"),
        ({}, np.zeros((4, 4), np.uint8), np.zeros((4, 4)), r"\(H, W, 3\)"),
        ({}, np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5)), "does not match"),
        ({}, np.zeros((4, 4, 3), np.int32), np.zeros((4, 4)), "uint8 or float"),
        ({}, np.zeros((4, 4, 3), np.uint8), np.full((4, 4), np.nan), "NaN"),
    ],
)
def test_bad_inputs(kwargs, image, disp, msg):
    with pytest.raises(DepthshotError, match=msg):
        synthesize_views(image, disp, **kwargs)


@pytest.fixture(scope="module")
def scene_pair():
    scene = desk_scene(160, 96)
    left, zl = render(scene, "left")
    right, zr = render(scene, "right")
    return scene, left, zl, right, zr


def test_quality_on_known_geometry(scene_pair):
    scene, left, zl, right, zr = scene_pair
    res = warp_view(torch.from_numpy(left).permute(2, 0, 1), torch.from_numpy(true_disparity(scene, zl)), -1.0)
    synth = res.image.permute(1, 2, 0).numpy()
    both = visible_in_left(scene, zr, zl)
    assert 0.02 < (~both).mean() < 0.2
    assert psnr(synth, right, both) > 33.0
    assert psnr(synth, right, ~both) > 17.0


def test_thin_foreground_object_keeps_its_shape(scene_pair):
    scene, left, zl, right, zr = scene_pair
    res = warp_view(torch.from_numpy(left).permute(2, 0, 1), torch.from_numpy(true_disparity(scene, zl)), -1.0)
    synth = res.image.permute(1, 2, 0).numpy()

    def pole(img):  # the texture's red channel stays below 0.7
        return (img[..., 0] > 0.75) & (img[..., 1:].max(-1) < 0.4)

    true_mask, synth_mask = pole(right), pole(synth)
    assert 2 <= true_mask.sum(1).max() <= 4  # the pole really is thin
    iou = (true_mask & synth_mask).sum() / (true_mask | synth_mask).sum()
    assert iou > 0.85
    rows = true_mask.any(1)
    assert np.abs(true_mask.sum(1) - synth_mask.sum(1))[rows].max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    g = torch.Generator().manual_seed(1)
    img = torch.rand(3, 30, 50, generator=g)
    d = torch.rand(30, 50, generator=g) * 10
    cpu = warp_view(img, d, -0.5)
    gpu = warp_view(img.cuda(), d.cuda(), -0.5)
    assert gpu.image.device.type == "cuda"
    assert torch.allclose(cpu.image, gpu.image.cpu(), atol=1e-5)


def _reference_warp(image: np.ndarray, disp: np.ndarray, shift: float, tolerance: float, border: str):
    """The warp written out pixel by pixel: (3, H, W), (H, W) float32 -> (image, disparity, holes)."""
    _, h, w = image.shape
    f32 = np.float32
    img_out, disp_out = np.zeros_like(image), np.zeros_like(disp)
    holes = np.zeros((h, w), bool)
    for y in range(h):
        taps = [[] for _ in range(w)]  # per target column: (weight, source column)
        for x in range(w):
            t = f32(x) + f32(shift) * disp[y, x]
            x0 = int(np.floor(t))
            frac = t - f32(x0)
            for col, wt in ((x0, f32(1) - frac), (x0 + 1, frac)):
                if 0 <= col < w:
                    taps[col].append((wt, x))
        weight = np.zeros(w, np.float32)
        for col in range(w):
            if not taps[col]:
                continue
            covering = [disp[y, x] for wt, x in taps[col] if wt >= 0.5]
            surface = max(covering) if covering else max(disp[y, x] for _, x in taps[col])
            acc = np.zeros(4, np.float32)
            for wt, x in taps[col]:
                if abs(disp[y, x] - surface) <= tolerance:
                    weight[col] += wt
                    acc += wt * np.append(image[:, y, x], disp[y, x])
            if weight[col] >= 1e-3:
                img_out[:, y, col], disp_out[y, col] = acc[:3] / weight[col], acc[3] / weight[col]
        holes[y] = weight < 1e-3
        for col in np.flatnonzero(holes[y]):
            left = next((c for c in range(col - 1, -1, -1) if not holes[y, c]), None)
            right = next((c for c in range(col + 1, w) if not holes[y, c]), None)
            if left is None and right is None or border == "black" and (left is None or right is None):
                continue  # stays zero
            src = left if right is None or (left is not None and disp_out[y, left] <= disp_out[y, right]) else right
            img_out[:, y, col], disp_out[y, col] = img_out[:, y, src], disp_out[y, src]
    return img_out, disp_out, holes


@pytest.mark.parametrize("shift", [0.5, -0.5, -1.0, 0.7, 0.0])
@pytest.mark.parametrize("border", ["fill", "black"])
@pytest.mark.parametrize("tolerance", [1.0, 0.3])
def test_matches_per_pixel_reference(shift, border, tolerance):
    rng = np.random.default_rng(7)
    image = rng.random((3, 12, 16), dtype=np.float32)
    disp = (rng.random((12, 16), dtype=np.float32) * 10 - 4).astype(np.float32)
    disp[3:7, 5:9] = 6.0  # a near block with step edges: occlusions and disocclusions
    disp[8] = np.round(disp[8])  # a row of whole-pixel shifts: taps exactly on pixel centres
    want_img, want_disp, want_holes = _reference_warp(image, disp, shift, tolerance, border)
    res = warp_view(torch.from_numpy(image), torch.from_numpy(disp), shift, tolerance=tolerance, border=border)
    assert np.array_equal(res.holes.numpy(), want_holes)
    assert (shift == 0.0) == (not want_holes.any())
    np.testing.assert_allclose(res.image.numpy(), want_img, atol=1e-5)
    np.testing.assert_allclose(res.disparity.numpy(), want_disp, atol=1e-5)
