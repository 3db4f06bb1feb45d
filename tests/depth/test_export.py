"""``python -m core.depth export``: every format read back by a reader other than the one that wrote it
(OpenImageIO for EXR, OpenCV for Pillow's PNGs, ffprobe and PyAV for the FFV1 video, plain numpy for the npz),
and the round trip export -> ``import_depth`` -> pass."""

from __future__ import annotations

import filecmp
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest

from core.depth.depth_pass import EMPTY, FILLED, MASK_PATTERN, DepthPass, DepthPassWriter, PassInfo
from core.depth.export import ExportOptions, export_pass
from core.depth.import_depth import import_depth
from core.errors import DepthshotError
from tests.shared_data import REPO

W, H = 12, 8
FIRST = 10  # the pass starts at source frame 10 (a job run with --start)
INTRINSICS = {"fx": 11.0, "fy": 12.0, "cx": 5.5, "cy": 3.5}


def _make_pass(path: Path, kind: str = "metric_depth") -> DepthPass:
    """Five frames in two shots ([0, 3), [3, 5)); metric: 1-3 m, a FILLED pixel, an EMPTY one (value 0)."""
    info = PassInfo(source="", fps=30.0, width=W, height=H, kind=kind, intrinsics=INTRINSICS,
                    mask_pattern=MASK_PATTERN)
    w = DepthPassWriter(path, info)
    rng = np.random.default_rng(1)
    for shot, (a, b) in enumerate([(0, 3), (3, 5)]):
        w.begin_shot(a)
        for i in range(a, b):
            depth = (1 + shot + rng.random((H, W))).astype(np.float32)
            mask = np.zeros((H, W), np.uint8)
            mask[0, 0] = FILLED
            if kind == "metric_depth":
                depth[2, 3] = 0.0  # no value: flagged EMPTY by the writer
            w.write(i, depth, pts=(FIRST + i) / 30.0, mask=mask)
        w.end_shot()
    return w.close()


@pytest.fixture(scope="module")
def metric(tmp_path_factory) -> DepthPass:
    return _make_pass(tmp_path_factory.mktemp("metric") / "pass")


@pytest.fixture(scope="module")
def relative(tmp_path_factory) -> DepthPass:
    return _make_pass(tmp_path_factory.mktemp("relative") / "pass", "relative_inverse_depth")


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.depth", "export", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def _expected(dp: DepthPass, i: int) -> np.ndarray:
    return np.where(dp.read_mask(i) & EMPTY, 0, dp.read(i))


def _oiio(path: Path) -> tuple[oiio.ImageSpec, np.ndarray]:
    inp = oiio.ImageInput.open(str(path))
    assert inp, oiio.geterror()
    spec = inp.spec()
    pixels = inp.read_image("float")
    inp.close()
    return spec, pixels[..., 0]


def test_exr_read_by_openimageio(metric: DepthPass, tmp_path: Path) -> None:
    run = _cli(metric.root, "-o", tmp_path / "exr", "--format", "exr")
    assert run.returncode == 0, run.stderr
    files = sorted((tmp_path / "exr").glob("*.exr"))
    assert [f.name for f in files] == [f"depth.{FIRST + i:06d}.exr" for i in range(5)]  # source frame numbers
    for i, f in enumerate(files):
        spec, z = _oiio(f)
        assert spec.channelnames == ("Z",) and str(spec.format) == "float"
        assert spec.getattribute("compression") == "zip"
        assert spec.getattribute("depthshot:units") == "m"
        assert spec.getattribute("depthshot:quantity") == "metric_depth"
        assert spec.getattribute("depthshot:shot") == (0 if i < 3 else 1)
        assert spec.getattribute("depthshot:frame") == FIRST + i
        assert spec.getattribute("depthshot:pts") == pytest.approx((FIRST + i) / 30)
        np.testing.assert_array_equal(z, _expected(metric, i))
    assert z[2, 3] == 0.0  # no value: 0, never a made-up depth


def test_exr_half_and_start_number(metric: DepthPass, tmp_path: Path) -> None:
    export_pass(metric.root, tmp_path / "half", ExportOptions(format="exr-half", start_number=1001, frames=[1, 4]))
    files = sorted((tmp_path / "half").glob("*.exr"))
    assert [f.name for f in files] == ["depth.001002.exr", "depth.001005.exr"]
    spec, z = _oiio(files[1])
    assert str(spec.format) == "half"
    np.testing.assert_allclose(z, _expected(metric, 4), rtol=1e-3)  # half: 11-bit mantissa


def test_exr_round_trip_gives_the_same_pass(metric: DepthPass, tmp_path: Path) -> None:
    export_pass(metric.root, tmp_path / "exr", ExportOptions(format="exr"))
    back = import_depth(tmp_path / "exr", tmp_path / "back")
    assert back.info.kind == "metric_depth" and back.info.intrinsics == INTRINSICS
    assert back.info.timestamps == metric.info.timestamps
    assert [(s.start, s.end, s.lo, s.hi) for s in back.info.shots] == [
        (s.start, s.end, s.lo, s.hi) for s in metric.info.shots]
    for i in range(len(metric)):
        assert filecmp.cmp(metric.frame_path(i), back.frame_path(i), shallow=False)
        np.testing.assert_array_equal(back.read_mask(i), metric.read_mask(i))


def test_npz_loads_in_plain_numpy(metric: DepthPass, tmp_path: Path) -> None:
    run = _cli(metric.root, "-o", tmp_path / "npz", "--format", "npz")
    assert run.returncode == 0, run.stderr
    with np.load(tmp_path / "npz" / "depth.npz") as z:
        assert z["depths"].dtype == np.float32 and z["depths"].shape == (5, H, W)
        for i in range(5):
            np.testing.assert_array_equal(z["depths"][i], _expected(metric, i))
        assert str(z["units"]) == "m" and str(z["quantity"]) == "metric_depth"
        np.testing.assert_array_equal(z["intrinsics"], [[11, 0, 5.5], [0, 12, 3.5], [0, 0, 1]])
        np.testing.assert_array_equal(z["shot_starts"], [0, 3])
        np.testing.assert_array_equal(z["shot"], [0, 0, 0, 1, 1])
        np.testing.assert_allclose(z["timestamps"], np.arange(FIRST, FIRST + 5) / 30)
        assert z["mask"][0][0, 0] == FILLED and z["mask"][0][2, 3] & EMPTY
    back = import_depth(tmp_path / "npz" / "depth.npz", tmp_path / "back")
    for i in range(5):
        assert filecmp.cmp(metric.frame_path(i), back.frame_path(i), shallow=False)


def test_reference_style_npz_imports(tmp_path: Path) -> None:
    depths = np.random.default_rng(0).random((3, H, W)).astype(np.float32) + 0.5
    np.savez(tmp_path / "ref.npz", depths=depths)  # what the VDA reference's --save_npz writes
    back = import_depth(tmp_path / "ref.npz", tmp_path / "pass", kind="relative_inverse_depth")
    step = (depths.max() - depths.min()) / 65535
    assert len(back) == 3 and np.abs(back.read(2) - depths[2]).max() <= step / 2 + 1e-7


def _png_text(path: Path) -> dict:
    """The ``depthshot`` tEXt chunk of a PNG, parsed by hand (not by Pillow, which wrote it)."""
    data = path.read_bytes()[8:]
    while data:
        length, kind = struct.unpack(">I4s", data[:8])
        body = data[8 : 8 + length]
        if kind == b"tEXt" and body.startswith(b"depthshot\0"):
            return json.loads(body.split(b"\0", 1)[1])
        if kind == b"zTXt" and body.startswith(b"depthshot\0"):
            return json.loads(zlib.decompress(body.split(b"\0", 1)[1][1:]))
        data = data[12 + length :]
    raise AssertionError("no depthshot text chunk")


@pytest.mark.parametrize("invert", [False, True])
def test_png16_values_recoverable_and_near_is_white(metric: DepthPass, tmp_path: Path, invert: bool) -> None:
    opts = ExportOptions(format="png16", invert=invert, normalize="shot")
    out = export_pass(metric.root, tmp_path / "png", opts)
    sidecar = json.loads((out / "depth.json").read_text())
    assert sidecar["near"] == ("black" if invert else "white")
    for rec in sidecar["frames"]:
        q = cv2.imread(str(out / rec["file"]), cv2.IMREAD_UNCHANGED)
        assert q.dtype == np.uint16
        assert _png_text(out / rec["file"])["offset"] == rec["offset"]
        values = rec["offset"] + rec["scale"] * q.astype(np.float64)
        shot = metric.info.shots[rec["shot"]]
        valid = metric.read_mask(rec["index"]) == 0
        truth = metric.read(rec["index"])
        assert np.abs(values - truth)[valid].max() <= (shot.hi - shot.lo) / 65535
        nearest = np.unravel_index(np.where(valid, truth, np.inf).argmin(), truth.shape)
        assert q[nearest] > 60000 if not invert else q[nearest] < 5000  # near = white unless --invert
    back = import_depth(out, tmp_path / "back")
    assert [s.end for s in back.info.shots] == [3, 5]
    for i in range(5):
        valid = metric.read_mask(i) == 0
        assert np.abs(back.read(i) - metric.read(i))[valid].max() <= 2 * (metric.info.shots[-1].hi - 1) / 65535


def test_png16_video_normalisation_is_one_range(metric: DepthPass, tmp_path: Path) -> None:
    out = export_pass(metric.root, tmp_path / "png", ExportOptions(format="png16"))
    mappings = {(r["offset"], r["scale"]) for r in json.loads((out / "depth.json").read_text())["frames"]}
    assert len(mappings) == 1
    offset, scale = mappings.pop()
    assert offset == metric.info.shots[1].hi and scale < 0  # metric, near = white: the far end is 0


def test_depth_video_read_by_ffprobe_and_pyav(relative: DepthPass, tmp_path: Path) -> None:
    run = _cli(relative.root, "-o", tmp_path / "video", "--format", "video")
    assert run.returncode == 0, run.stderr
    mkv = tmp_path / "video" / "depth.mkv"
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
         "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames:frame=pts_time", "-of", "json", str(mkv)],
        capture_output=True, text=True, check=True).stdout)
    stream = probe["streams"][0]
    assert (stream["codec_name"], stream["pix_fmt"], stream["width"], stream["height"]) == ("ffv1", "gray16le", W, H)
    assert stream["r_frame_rate"] == "30/1" and int(stream["nb_read_frames"]) == 5
    times = [float(f["pts_time"]) for f in probe["frames"]]
    np.testing.assert_allclose(times, relative.info.timestamps, atol=1e-3)  # on the source's timeline
    import av

    records = json.loads((tmp_path / "video" / "depth.json").read_text())["frames"]
    with av.open(str(mkv)) as c:
        for frame, rec in zip(c.decode(video=0), records, strict=True):
            values = rec["offset"] + rec["scale"] * frame.to_ndarray(format="gray16le").astype(np.float64)
            truth = relative.read(rec["index"])
            assert np.abs(values - truth).max() <= (max(s.hi for s in relative.info.shots) - 0) / 65535
    preview = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,pix_fmt", "-of", "json",
         str(tmp_path / "video" / "depth_preview.mp4")], capture_output=True, text=True, check=True).stdout)
    assert preview["streams"][0] == {"codec_name": "h264", "pix_fmt": "yuv420p"}
    back = import_depth(mkv, tmp_path / "back")
    assert back.info.kind == "relative_inverse_depth" and len(back) == 5


def test_as_disparity_and_refusals(metric: DepthPass, relative: DepthPass, tmp_path: Path) -> None:
    out = export_pass(metric.root, tmp_path / "disp", ExportOptions(format="npz", as_="disparity"))
    with np.load(out / "depth.npz") as z:
        assert str(z["units"]) == "1/m"
        valid = metric.read_mask(0) == 0
        np.testing.assert_allclose(z["depths"][0][valid], 1 / metric.read(0)[valid], rtol=1e-6)
    back = import_depth(out / "depth.npz", tmp_path / "back")  # back to metres
    assert back.info.kind == "metric_depth"
    np.testing.assert_allclose(back.read(0)[valid], metric.read(0)[valid], rtol=1e-4)

    run = _cli(relative.root, "-o", tmp_path / "x", "--format", "exr", "--as", "depth")
    assert run.returncode == 2 and run.stderr.startswith("error: --as depth needs a metric pass")
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_bad_input_leaves_nothing(metric: DepthPass, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(metric.root, broken)
    (broken / "depth" / "000003.png").unlink()
    run = _cli(broken, "-o", tmp_path / "out", "--format", "exr")
    assert run.returncode == 2 and run.stderr.startswith("error: ") and "000003.png" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]  # no output, no temporary folder

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    run = _cli(metric.root, "-o", tmp_path / "taken", "--format", "npz")
    assert run.returncode == 2 and "--overwrite" in run.stderr
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep"
    run = _cli(metric.root, "-o", tmp_path / "taken", "--format", "npz", "--overwrite")
    assert run.returncode == 0 and sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["depth.json", "depth.npz"]
    run = _cli(metric.root, "-o", tmp_path / "y", "--format", "tiff")
    assert run.returncode == 2 and "invalid choice" in run.stderr


def test_disk_full_is_one_error_and_no_output(metric: DepthPass, tmp_path: Path, monkeypatch) -> None:
    import OpenEXR

    calls = {"n": 0}
    real = OpenEXR.File.write

    def full_disk(self, path):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError(f"Failed to write {path}: No space left on device")
        return real(self, path)

    monkeypatch.setattr(OpenEXR.File, "write", full_disk)
    with pytest.raises(DepthshotError, match="disk is full"):
        export_pass(metric.root, tmp_path / "exr", ExportOptions(format="exr"))
    assert list(tmp_path.iterdir()) == []
