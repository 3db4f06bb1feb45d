"""Only measured geometry by default: the pass's validity mask keeps filled pixels out of clouds and meshes;
lens distortion undistorts the rays."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import trimesh

from core import mesh as mesh_cli
from core import pointcloud as pointcloud_cli
from core.cli import run_main
from core.depth.depth_pass import EMPTY, FILLED, DepthPass
from core.depth.import_depth import import_depth
from core.geometry.camera import Intrinsics, resolve_intrinsics, unproject
from core.geometry.pointcloud import read_ply

from .conftest import step_depth


def _hole_masks(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    masks = []
    for _ in range(n):
        m = np.zeros((h, w), np.uint8)
        m[10:20, 5:15] = FILLED  # inside the 2 m half, away from the step
        masks.append(m)
    return masks


def test_filled_pixels_never_become_points_or_vertices_by_default(pass_factory, tmp_path):
    depths = [step_depth(64, 48) for _ in range(2)]
    for d in depths:
        d[10:20, 5:15] = 3.0  # the invented values, so the filled pixels are recognisable
    dp = pass_factory(depths, masks=_hole_masks(2), intrinsics={"fx": 60.0, "fy": 60.0, "cx": 31.5, "cy": 23.5})
    assert dp.read_mask(1)[15, 10] == FILLED and dp.read_mask(1)[0, 0] == 0
    out = tmp_path / "clouds"
    assert run_main(pointcloud_cli.main, [str(dp.root), "-o", str(out)]) == 0
    pts = read_ply(out / "000000.ply")
    assert len(pts) == 64 * 48 - 100 and not np.isclose(pts.positions[:, 2], 3.0).any()
    kept = tmp_path / "kept"
    assert run_main(pointcloud_cli.main, [str(dp.root), "-o", str(kept), "--keep-filled"]) == 0
    pts = read_ply(kept / "000000.ply")
    at_fill = np.isclose(pts.positions[:, 2], 3.0)
    assert at_fill.sum() == 100 and (pts.confidence[at_fill] == 0).all() and (pts.confidence[~at_fill] > 0).all()
    meshes = tmp_path / "meshes"
    assert run_main(mesh_cli.main, [str(dp.root), "-o", str(meshes), "--stride", "1", "--format", "ply"]) == 0
    mesh = trimesh.load(meshes / "000000.ply", process=False)
    assert len(mesh.vertices) > 0 and not np.isclose(-mesh.vertices[:, 2], 3.0).any()


def test_import_writes_the_mask_and_keeps_holes_out_of_the_statistics(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(1)
    raw = []
    for i in range(3):
        d = (rng.random((30, 40)) * 2 + 1).astype(np.float32)
        d[:5, :5] = 0.0  # a sensor hole
        raw.append(d)
        cv2.imwrite(str(src / f"{i:03d}.png"), np.rint(d * 1000).astype(np.uint16))
    filled = import_depth(src, tmp_path / "filled", scale=1000.0)
    kept = import_depth(src, tmp_path / "kept", scale=1000.0, fill=False)
    for dp, flag in ((filled, FILLED), (kept, EMPTY)):
        assert dp.info.revision == 2 and dp.info.mask_pattern
        m = dp.read_mask(2)
        assert (m[:5, :5] == flag).all() and (m[5:, :] == 0).all() and (m[:, 5:] == 0).all()
        shot = dp.info.shots[0]
        valid = np.concatenate([d[d > 0] for d in raw])
        assert shot.lo == pytest.approx(valid.min(), abs=1e-3) and shot.lo > 0.9  # the zeros are not the minimum
        assert shot.p2 == pytest.approx(np.percentile(valid, 2), rel=0.02)


def test_revision_1_pass_without_mask_still_reads(step_pass):
    manifest = step_pass.root / "depth_pass.json"
    data = json.loads(manifest.read_text())
    assert data["version"] == 1 and data["revision"] == 2  # old readers (the add-on's) still accept it
    data.pop("mask_pattern"), data.pop("poses"), data.pop("revision")
    manifest.write_text(json.dumps(data))
    dp = DepthPass.open(step_pass.root)
    assert dp.info.mask_pattern is None and dp.info.revision == 1 and (dp.read_mask(0) == 0).all()


def test_distorted_rays_reproject_to_their_pixels():
    dist = (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)  # the TUM fr1 colour camera
    k = Intrinsics(517.3, 516.5, 318.6, 255.3, 640, 480, dist)
    depth = np.full((480, 640), 2.0, np.float32)
    pts = unproject(depth, k).reshape(-1, 3).astype(np.float64)
    back, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), k.matrix, np.asarray(dist))
    u, v = np.meshgrid(np.arange(640), np.arange(480))
    err = np.hypot(back[:, 0, 0] - u.ravel(), back[:, 0, 1] - v.ravel())
    assert np.median(err) < 1e-3 and np.percentile(err, 99) < 0.05
    pinhole = unproject(depth, k.undistorted())
    shift = np.abs(pts.reshape(480, 640, 3) - pinhole)[..., :2].max()
    assert shift > 0.01  # the corners move by centimetres at 2 m: the distortion is not ignored
    # the pass's intrinsics dict carries the coefficients through
    known = {"fx": 517.3, "fy": 516.5, "cx": 318.6, "cy": 255.3, "distortion": list(dist)}
    assert resolve_intrinsics(640, 480, known=known).distortion == dist
    assert resolve_intrinsics(320, 240, known=known, known_size=(640, 480)).distortion == dist


def test_mask_survives_a_resumed_write(tmp_path):
    from core.depth.depth_pass import MASK_PATTERN, DepthPassWriter, PassInfo

    info = PassInfo(source="", fps=30.0, width=20, height=10, kind="metric_depth", mask_pattern=MASK_PATTERN)
    depths = [np.full((10, 20), 1.0 + i, np.float32) for i in range(4)]
    masks = [np.where(np.arange(20)[None, :] < i + 1, FILLED, 0).repeat(10, 0).astype(np.uint8) for i in range(4)]
    w = DepthPassWriter(tmp_path / "p", info)
    w.begin_shot(0)
    for i in range(2):
        w.write(i, depths[i], i / 30, masks[i])
    w.flush()  # what was on disk when ...
    del w  # ... the run was interrupted
    w = DepthPassWriter(tmp_path / "p", info)
    assert w.resume_point() == 2
    w.begin_shot(0)
    for i in range(2, 4):
        w.write(i, depths[i], i / 30, masks[i])
    dp = w.close()
    for i in range(4):
        np.testing.assert_array_equal(dp.read_mask(i), masks[i])
    # the filled columns do not count for the range: frame 0's column 0 is filled, the rest measured
    assert dp.info.shots[0].lo == 1.0 and dp.info.shots[0].hi == 4.0


def test_the_bundled_desk_pass_opens_with_its_mask_and_distortion():
    from tests.shared_data import REPO

    dp = DepthPass.open(REPO / "assets" / "tum_desk_depth")
    assert dp.info.mask_pattern and len(dp.info.intrinsics["distortion"]) == 5
    filled = (dp.read_mask(0) & FILLED) != 0
    assert 0.15 < filled.mean() < 0.35  # the sensor's holes, filled for stereo, flagged for geometry
    assert len(dp) == 60 and dp.read(0).shape == (480, 640)
