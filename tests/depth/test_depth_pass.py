"""The depth pass format: round trip, per-shot normalisation, resume of a staged pass, import of sensor depth."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.depth.depth_pass import (
    MANIFEST,
    DepthPass,
    DepthPassWriter,
    PassInfo,
    dequantize,
    quantize,
)
from core.depth.import_depth import fill_holes, import_depth
from core.errors import DepthshotError
from tests.robust import dead_pid
from tests.shared_data import REPO, TUM


def _info(**kw) -> PassInfo:
    base = dict(source="", fps=30.0, width=40, height=30, kind="relative_inverse_depth", model={"id": "test"})
    base.update(kw)
    return PassInfo(**base)


def _frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.random((30, 40)) * (1 + i) + 0.5 * i).astype(np.float32) for i in range(n)]


def _write(path: Path, frames: list[np.ndarray], cuts: list[int]) -> DepthPass:
    w = DepthPassWriter(path, _info())
    bounds = [0, *cuts, len(frames)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        w.begin_shot(a)
        for i in range(a, b):
            w.write(i, frames[i], pts=i / 30)
        w.end_shot()
    return w.close()


def test_round_trip_is_exact_to_half_a_step_of_the_shot_range(tmp_path):
    frames = _frames(9)
    dp = DepthPass.open(_write(tmp_path / "p", frames, cuts=[4]).root)
    assert len(dp) == 9 and [(s.start, s.end) for s in dp.info.shots] == [(0, 4), (4, 9)]
    assert dp.info.timestamps == pytest.approx([i / 30 for i in range(9)])
    for i, depth in dp.frames():
        shot = dp.shot_of(i)
        assert depth.dtype == np.float32 and depth.shape == (30, 40)
        step = (shot.hi - shot.lo) / 65535
        # half a quantisation step, plus the float32 rounding of the returned value
        assert np.abs(depth - frames[i]).max() <= 0.5 * step + 2e-7 * np.abs(frames[i]).max()
    shot = dp.info.shots[1]
    stacked = np.stack(frames[4:9])
    assert shot.lo == pytest.approx(stacked.min()) and shot.hi == pytest.approx(stacked.max())
    assert shot.p2 == pytest.approx(np.percentile(stacked, 2), rel=1e-2)
    assert shot.p98 == pytest.approx(np.percentile(stacked, 98), rel=1e-2)


def test_pngs_are_normalised_per_shot_not_per_frame(tmp_path):
    # frame 1 covers only the lower half of the shot's range: per-shot normalisation keeps its PNG values low
    frames = [np.full((30, 40), 1.0, np.float32), np.full((30, 40), 2.0, np.float32)]
    frames[0][0, 0] = 3.0
    dp = _write(tmp_path / "p", frames, cuts=[])
    png = cv2.imread(str(dp.frame_path(1)), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and int(png.max()) == round(65535 / 2)


def test_quantize_dequantize_constant_shot():
    q = quantize(np.full((2, 2), 7.0), 7.0, 7.0)
    assert (q == 0).all() and (dequantize(q, 7.0, 7.0) == 7.0).all()


def test_unfinished_pass_is_not_readable_and_resumes(tmp_path):
    frames = _frames(8)
    path = tmp_path / "p"
    w = DepthPassWriter(path, _info())
    w.begin_shot(0)
    for i in range(3):
        w.write(i, frames[i], pts=i / 30)
    w.end_shot()
    w.begin_shot(3)
    for i in range(3, 6):
        w.write(i, frames[i], pts=i / 30)
    w.flush()  # what the background threads had written when ...
    del w  # ... the process dies here, in the middle of writing frame 6 and a PNG (kill -9 leaves the temp files)
    dead = dead_pid()
    planted = [path / ".work" / "raw" / f".000006.partial-{dead}.npy", path / "depth" / f".000003.partial-{dead}.png",
               path / ".work" / f".progress.partial-{dead}.json"]
    for p in planted:
        p.write_bytes(b"half a file")
    with pytest.raises(DepthshotError, match="unfinished"):
        DepthPass.open(path)
    w = DepthPassWriter(path, _info())
    assert not any(p.exists() for p in planted)
    assert w.resume_point() == 6 and w.current_shot_start == 3
    w.begin_shot(3)
    for i in range(6, 8):
        w.write(i, frames[i], pts=i / 30)
    w.end_shot()
    resumed = w.close()
    fresh = _write(tmp_path / "q", frames, cuts=[3])
    assert resumed.info.to_json() == fresh.info.to_json()
    for i in range(8):
        assert resumed.frame_path(i).read_bytes() == fresh.frame_path(i).read_bytes()
    assert not (path / ".work").exists()


def test_other_settings_do_not_resume(tmp_path):
    path = tmp_path / "p"
    w = DepthPassWriter(path, _info())
    w.begin_shot(0)
    w.write(0, _frames(1)[0], pts=0.0)
    w.flush()  # the first run stops here
    w = DepthPassWriter(path, _info(model={"id": "other"}))
    assert w.resume_point() == 0


def test_writer_rejects_bad_frames_and_finished_pass(tmp_path):
    dp = _write(tmp_path / "p", _frames(2), cuts=[])
    with pytest.raises(DepthshotError, match="already there"):
        DepthPassWriter(dp.root, _info())
    w = DepthPassWriter(tmp_path / "q", _info())
    with pytest.raises(DepthshotError, match="outside a shot"):
        w.write(0, _frames(1)[0], pts=0)
    w.begin_shot(0)
    with pytest.raises(DepthshotError, match="40x30"):
        w.write(0, np.zeros((5, 5), np.float32), pts=0)
    with pytest.raises(DepthshotError, match="NaN"):
        w.write(0, np.full((30, 40), np.nan, np.float32), pts=0)
    with pytest.raises(DepthshotError, match="out of order"):
        w.write(3, _frames(1)[0], pts=0)


def test_open_errors(tmp_path):
    with pytest.raises(DepthshotError, match="no such"):
        DepthPass.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DepthshotError, match="not a depth pass"):
        DepthPass.open(tmp_path / "empty")
    dp = _write(tmp_path / "p", _frames(2), cuts=[])
    with pytest.raises(DepthshotError, match="outside"):
        dp.read(2)
    dp.frame_path(1).unlink()
    with pytest.raises(DepthshotError, match="missing or not"):
        dp.read(1)


def test_fill_holes_takes_the_far_side():
    depth = np.full((5, 7), 1.0, np.float32)
    depth[:, 4:] = 3.0  # far background on the right
    depth[:, 3] = 0.0  # a hole at the edge between them
    filled = fill_holes(depth, "metric_depth")
    assert (filled[:, 3] == 3.0).all() and (filled[:, :3] == 1.0).all()
    inv = fill_holes(np.where(depth > 0, 1 / np.maximum(depth, 1e-6), 0), "relative_inverse_depth")
    assert np.allclose(inv[:, 3], 1 / 3.0)
    with pytest.raises(DepthshotError, match="no valid pixel"):
        fill_holes(np.zeros((3, 3)))


def test_import_tum_sensor_depth(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"{i:05d}.png").write_bytes((TUM / "depth" / f"{i:05d}.png").read_bytes())
    intr = json.loads((TUM / "intrinsics.json").read_text())
    dp = import_depth(src, tmp_path / "pass", scale=5000.0, fps=30.0,
                      intrinsics={k: intr[k] for k in ("fx", "fy", "cx", "cy")})
    assert dp.info.kind == "metric_depth" and (dp.info.width, dp.info.height) == (640, 480)
    assert dp.info.intrinsics["fx"] == pytest.approx(517.3)
    sensor = cv2.imread(str(TUM / "depth" / "00001.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 5000
    got = dp.read(1)
    valid = sensor > 0
    step = (dp.shot_of(1).hi - dp.shot_of(1).lo) / 65535
    assert np.abs(got[valid] - sensor[valid]).max() <= 0.5 * step + 2e-7 * sensor.max()
    assert (got > 0).all() and 0.3 < got.min() and got.max() < 10  # holes filled with plausible depth


def test_import_cli_bad_input_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "core.depth.import_depth", str(tmp_path / "nope"), "-o",
                        str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error:") and "Traceback" not in r.stderr
    assert not (tmp_path / "out" / MANIFEST).exists()


def test_import_npz_and_exr_of_another_tool(tmp_path):
    import OpenEXR

    rng = np.random.default_rng(3)
    depth = (rng.random((3, 30, 40)) * 4 + 0.5).astype(np.float32)
    np.savez(tmp_path / "d.npz", depth=depth)
    exr = tmp_path / "exr"
    exr.mkdir()
    for i, d in enumerate(depth):
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {"Z": d}).write(str(exr / f"{i:04d}.exr"))
    for src, name in ((tmp_path / "d.npz", "from_npz"), (exr, "from_exr")):
        seen = []
        dp = import_depth(src, tmp_path / name, kind="relative_inverse_depth", fps=24.0,
                          on_progress=lambda *p: seen.append(p))
        assert seen == [("import depth", i, 3) for i in range(4)]  # progress through the callback
        assert len(dp) == 3 and dp.info.kind == "relative_inverse_depth" and dp.info.fps == 24.0
        step = (dp.info.shots[0].hi - dp.info.shots[0].lo) / 65535
        for i in range(3):
            assert np.abs(dp.read(i) - depth[i]).max() <= 0.5 * step + 2e-7 * depth.max()
    bad = tmp_path / "bad.npz"
    np.savez(bad, other=depth)
    with pytest.raises(DepthshotError, match="'depth' array"):
        import_depth(bad, tmp_path / "bad_pass")


def test_resume_finishes_the_pngs_of_a_recorded_shot(tmp_path):
    # the run stopped after recording shot 0 but before its PNG of frame 1 was written
    frames = _frames(5)
    path = tmp_path / "p"
    w = DepthPassWriter(path, _info())
    w.begin_shot(0)
    for i in range(3):
        w.write(i, frames[i], pts=i / 30)
    w.flush()
    staged = (path / ".work" / "raw" / "000001.npy").read_bytes()
    w.end_shot()
    w.flush()
    (path / "depth" / "000001.png").unlink()
    (path / ".work" / "raw" / "000001.npy").write_bytes(staged)
    del w
    w = DepthPassWriter(path, _info())
    assert w.resume_point() == 3 and w.current_shot_start is None
    w.begin_shot(3)
    for i in range(3, 5):
        w.write(i, frames[i], pts=i / 30)
    resumed = w.close()
    fresh = _write(tmp_path / "q", frames, cuts=[3])
    assert resumed.info.to_json() == fresh.info.to_json()
    for i in range(5):
        assert resumed.frame_path(i).read_bytes() == fresh.frame_path(i).read_bytes()


@pytest.mark.parametrize("ahead", [False, True])
def test_shot_end_pngs_come_from_memory_within_the_budget_and_from_staging_beyond_it(tmp_path, ahead):
    from core.depth.depth_pass import stage_frame

    frames = _frames(4)
    frames[0][0, :2] = [-1.0, 99.0]  # the shot's range from frame 0 on: every PNG encoded ahead is right
    path = tmp_path / "p"
    w = DepthPassWriter(path, _info(), held_bytes=2 * frames[0].nbytes, encode_ahead=ahead)  # room for frames 0, 1
    written = threading.Event()  # a guess done early gives its frame's room back: none before frames 2, 3 came
    w._guesser.submit(written.wait)
    w.begin_shot(0)
    for i in range(4):
        w.write(i, frames[i], pts=i / 30)
    written.set()
    w.flush()
    for i in range(4):  # what is on disk now differs from what was written: shows where each PNG came from
        stage_frame(path / ".work" / "raw" / f"{i:06d}.npy", frames[i][::-1].copy(), i / 30)
    w.end_shot()
    dp = w.close()
    fresh = _write(tmp_path / "q", frames, cuts=[])
    same = [dp.frame_path(i).read_bytes() == fresh.frame_path(i).read_bytes() for i in range(4)]
    assert same == [True, True, False, False]
    assert np.array_equal(cv2.imread(str(dp.frame_path(3)), cv2.IMREAD_UNCHANGED),
                          cv2.imread(str(fresh.frame_path(3)), cv2.IMREAD_UNCHANGED)[::-1])


@pytest.mark.parametrize("widen_at, ahead", [(None, 6), (5, 1)])  # (5: only frame 5 saw the final range)
def test_pngs_encoded_ahead_are_kept_only_when_their_range_is_the_shots(tmp_path, widen_at, ahead):
    frames = _frames(6)
    frames[0][0, :2] = [-1.0, 99.0]  # frame 0 holds the shot's range ...
    if widen_at is not None:
        frames[widen_at][0, 0] = 200.0  # ... unless a later frame widens it
    w = DepthPassWriter(tmp_path / "p", _info(), encode_ahead=True)
    w.begin_shot(0)
    for i in range(6):
        if i == widen_at:
            w._guesser.submit(lambda: None).result()  # the guesses of the frames before are done
        w.write(i, frames[i], pts=i / 30)
    w._guesser.submit(lambda: None).result()
    w.end_shot()
    dp = w.close()
    assert w.pngs_ahead == ahead
    plain = DepthPassWriter(tmp_path / "q", _info(), encode_ahead=False)
    plain.begin_shot(0)
    for i in range(6):
        plain.write(i, frames[i], pts=i / 30)
    fresh = plain.close()
    assert plain.pngs_ahead == 0
    for i in range(6):
        assert dp.frame_path(i).read_bytes() == fresh.frame_path(i).read_bytes()


def test_long_shot_percentiles_come_from_a_bounded_sample(tmp_path):
    from core.depth.depth_pass import _SAMPLED_FRAMES, _ShotStats

    rng = np.random.default_rng(1)
    frames = [rng.normal(i / 100, 1.0, (30, 40)).astype(np.float32) for i in range(300)]
    stats = _ShotStats(start=0)
    for i, f in enumerate(frames):
        stats.add(i, f, i / 30)
    assert sum(f.sample.size > 0 for f in stats.frames.values()) <= _SAMPLED_FRAMES
    shot = stats.shot(0, 300)
    everything = np.stack(frames)
    assert shot.lo == everything.min() and shot.hi == everything.max()
    assert shot.p2 == pytest.approx(np.percentile(everything, 2), abs=0.05)
    assert shot.p98 == pytest.approx(np.percentile(everything, 98), abs=0.05)
    # the same frames added in another order (a resumed shot re-adds its staged frames) give the same shot
    again = _ShotStats(start=0)
    for i in [*range(150, 300), *range(150)]:
        again.add(i, frames[i], i / 30)
    assert again.shot(0, 300) == shot


def test_index_at_matches_by_timestamp_within_half_a_frame(tmp_path):
    """Video frames are matched to depth frames by time: nearest timestamp, at most half a frame period away."""
    info = _info(fps=25.0)
    w = DepthPassWriter(tmp_path / "p", info)
    w.begin_shot(0)
    for i, t in enumerate([10.0, 10.04, 10.08, 10.2]):  # a gap after 10.08 (a dropped frame)
        w.write(i, np.full((info.height, info.width), float(i), np.float32), t)
    w.end_shot()
    dp = w.close()
    tol = dp.time_tolerance
    assert tol == pytest.approx(0.5 / info.fps)
    assert [dp.index_at(t) for t in (10.0, 10.019, 10.041, 10.08 + tol * 0.9, 10.2 - tol * 0.9)] == [0, 0, 1, 2, 3]
    assert dp.index_at(10.0 - tol * 1.1) is None and dp.index_at(10.14) is None and dp.index_at(10.2 + tol * 1.1) is None
    assert dp.index_at(0.0) is None  # a pass of a trimmed range has no frame at the video's start


def test_a_newer_format_version_is_refused(tmp_path):
    """A pass written by a newer depthshot (format version + 1) is refused with one line, not misread."""
    import json

    from core.depth.depth_pass import FORMAT_VERSION, MANIFEST

    dp = _write(tmp_path / "p", _frames(2), cuts=[])
    manifest = dp.root / MANIFEST
    data = json.loads(manifest.read_text())
    assert data["version"] == FORMAT_VERSION
    data["version"] = FORMAT_VERSION + 1
    manifest.write_text(json.dumps(data))
    with pytest.raises(DepthshotError, match=f"format version {FORMAT_VERSION + 1} is newer") as err:
        DepthPass.open(dp.root)
    assert "\n" not in str(err.value)
    data["version"] = FORMAT_VERSION  # the same manifest at the current version opens
    manifest.write_text(json.dumps(data))
    assert len(DepthPass.open(dp.root)) == 2
