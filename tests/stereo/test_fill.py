import numpy as np
import pytest
import torch

from core.errors import DepthshotError
from core.metrics.stereo import trmse
from core.stereo.fill import TemporalFill, background_sources, depth_flow, hole_runs, spatial_fill, window_max
from core.stereo.warp import ViewSynthesizer, synthesize_views, warp_view

from .scene import dolly_sequence, psnr, render_view

FG, BG = 0.9, 0.2


def _step_scene(w: int = 40, h: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """A bright near block (disparity 6) on a dark far background with a vertical ramp (disparity 0)."""
    img = torch.full((3, h, w), BG)
    img += torch.linspace(0, 0.2, h)[None, :, None]
    d = torch.zeros(h, w)
    img[:, :, 14:22] = FG
    d[:, 14:22] = 6.0
    return img, d


def test_spatial_fill_takes_background_not_the_foreground_beside_the_hole():
    img, d = _step_scene()
    res = warp_view(img, d, -1.0, fill="spatial")
    hole = res.holes[0].nonzero().squeeze(1)
    assert hole.numel() >= 5  # the strip the block uncovered
    assert (res.image[:, :, hole] < 0.5).all()  # background level (0.2..0.4), never the block's 0.9
    # and it follows the background's vertical ramp rather than one stretched pixel per row
    col = res.image[0, :, hole[len(hole) // 2]]
    assert torch.all(col[1:] >= col[:-1] - 1e-4) and col[-1] - col[0] > 0.1


def test_spatial_fill_continues_the_backgrounds_trend_along_the_row():
    img, d = _step_scene()
    img[:, :, 22:] = torch.linspace(0.2, 0.6, 18)  # the background right of the block brightens to the right
    res = warp_view(img, d, -1.0, fill="spatial")
    hole = res.holes[0].nonzero().squeeze(1)
    row = res.image[0, 5, hole]
    # the hole's right side is the background: going left into the hole the fill keeps darkening like the ramp
    # (a stretch would repeat the ramp's first value)
    assert torch.all(row[:-1] <= row[1:] + 1e-6) and row[-1] - row[0] > 0.05


def test_hole_runs_name_the_columns_around_each_run():
    holes = torch.zeros(3, 8, dtype=torch.bool)
    holes[0, 0:2] = holes[0, 5:8] = holes[1, 3] = holes[2, 2:6] = True
    y, x, left, right = hole_runs(holes)
    want = {(0, 0): (-1, 2), (0, 1): (-1, 2), (0, 5): (4, 8), (0, 6): (4, 8), (0, 7): (4, 8), (1, 3): (2, 4)}
    want.update({(2, c): (1, 6) for c in range(2, 6)})
    got = {(int(a), int(b)): (int(lo), int(hi)) for a, b, lo, hi in zip(y, x, left, right)}
    assert got == want


def test_background_sources_leave_out_nearer_pixels_beside_holes():
    d = torch.zeros(6, 20)
    d[:, 5:9] = 5.0
    holes = torch.zeros(6, 20, dtype=torch.bool)
    holes[:, 9:12] = True
    src = background_sources(d, holes)
    assert not src[:, 5:12].any() and src[:, 12:].all() and src[:, :4].all()


def test_spatial_fill_leaves_known_pixels_alone():
    img, d = _step_scene()
    holes = torch.zeros(d.shape, dtype=torch.bool)
    assert spatial_fill(img, d, holes) is img
    holes[:, 30:33] = True
    out = spatial_fill(img, d, holes)
    assert torch.equal(out[:, ~holes], img[:, ~holes])


def test_fill_names_are_checked():
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(DepthshotError, match="unknown fill"):
        synthesize_views(img, np.zeros((4, 4)), fill="blur")
    with pytest.raises(DepthshotError, match="ViewSynthesizer"):
        synthesize_views(img, np.zeros((4, 4)), fill="temporal")
    with pytest.raises(DepthshotError, match="unknown fill"):
        ViewSynthesizer("right_only", "blur")


@pytest.mark.parametrize("name", ["layered", "floor", "closeup"])
def test_spatial_fill_beats_stretching_on_stills(stills, name):
    view = stills[name]
    stretch = synthesize_views(view.left, view.disparity, mode="right_only", fill="stretch")[1]
    spatial = synthesize_views(view.left, view.disparity, mode="right_only")[1]  # the default
    gain = psnr(spatial, view.right, ~view.covisible) - psnr(stretch, view.right, ~view.covisible)
    assert gain >= 1.0  # measured at 320x180: +3.1, +3.2, +3.5 dB
    assert psnr(spatial, view.right, np.ones(view.covisible.shape, bool)) > psnr(
        stretch, view.right, np.ones(view.covisible.shape, bool))


def test_temporal_fill_resets_at_a_cut_and_on_request():
    img, d = _step_scene()
    res = warp_view(img, d, -1.0, fill="spatial")
    filler = TemporalFill()
    first = filler(res.image, res.disparity, res.holes)
    assert torch.equal(first, res.image)  # no history: the spatial fill
    other = warp_view(1 - img, d, -1.0, fill="spatial")  # a different picture: a cut
    assert torch.equal(filler(other.image, other.disparity, other.holes), other.image)
    filler(res.image, res.disparity, res.holes)
    filler.reset()
    assert torch.equal(filler(res.image, res.disparity, res.holes), res.image)


@pytest.fixture(scope="module")
def dolly():
    return [render_view(s) for s in dolly_sequence(320, 180, 24)]  # about a minute to render


@pytest.mark.slow
def test_temporal_fill_on_a_dolly_beats_stretching_and_flickers_less(dolly):
    def run(fill):
        synth = ViewSynthesizer("right_only", fill)
        out = []
        for v in dolly:
            right = synth(torch.from_numpy(v.left).permute(2, 0, 1), torch.from_numpy(v.disparity))[1]
            out.append(right.clamp(0, 1).permute(1, 2, 0).numpy())
        return out

    truth = [v.right for v in dolly]
    stretch, temporal = run("stretch"), run("temporal")
    dis = [np.mean([psnr(p, v.right, ~v.covisible) for p, v in zip(preds, dolly)]) for preds in (stretch, temporal)]
    assert dis[1] >= dis[0] + 5.0  # measured: +7.1 dB (+4.0 with the push-pull spatial fill; the issue asks +5)
    assert trmse(zip(temporal, truth)) <= 0.8 * trmse(zip(stretch, truth))


def test_depth_flow_recovers_a_camera_motion_and_refuses_a_moving_object():
    g = torch.Generator().manual_seed(3)
    d = torch.rand(60, 80, generator=g) * 20
    xs = torch.linspace(-1, 1, 80)[None].expand(60, 80)
    flow = torch.stack([0.3 + 0.05 * d + 0.2 * xs, -0.1 + 0.01 * d])  # a sideways and a little vertical move
    noisy = flow + torch.randn(2, 60, 80, generator=g) * 0.05
    known = torch.ones(60, 80, dtype=torch.bool)
    known[20:40, 30:50] = False  # a hole: its flow comes from its disparity
    model = depth_flow(noisy, d, known)
    assert model is not None
    assert (model - flow)[:, ~known].abs().max() < 0.05
    wild = torch.rand(2, 60, 80, generator=g) * 8 - 4  # no camera motion explains this
    assert depth_flow(wild, d, known) is None


@pytest.mark.parametrize("shape,ry,rx", [((40, 60), 6, 6), ((7, 3), 2, 5), ((9, 30), 0, 3)])
def test_window_max_is_a_max_filter(shape, ry, rx):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    x[x > 1.5] = -torch.inf
    want = torch.nn.functional.max_pool2d(x[None, None], (2 * ry + 1, 2 * rx + 1), stride=1, padding=(ry, rx))[0, 0]
    assert torch.equal(window_max(x, ry, rx), want)
