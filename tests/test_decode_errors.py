"""Decode errors in the middle of a video: counted, named by frame range, refused above 1 % unless ignored."""

from __future__ import annotations

import logging
import shutil

import pytest

from core.video import read_frames
from core.video.errors import CorruptVideoError
from tests.robust import REPO, Commands, one_error_line, run, snapshot


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """The bundled clip (60 frames, one key frame) with 1 KiB inverted at half its length: H.264 conceals the
    damage from there to the end."""
    d = tmp_path_factory.mktemp("damaged")
    data = bytearray((REPO / "assets" / "tum_desk.mp4").read_bytes())
    for k in range(len(data) // 2, len(data) // 2 + 1024):
        data[k] ^= 0xFF
    (d / "damaged.mp4").write_bytes(bytes(data))
    return d / "damaged.mp4"


def test_damaged_frames_are_counted_and_refused_unless_ignored(damaged, caplog):
    with pytest.raises(CorruptVideoError, match=r"damaged \d+ frames \(frames \d+-59\)"):
        for _ in read_frames(damaged, size=(64, 48)):
            pass
    with caplog.at_level(logging.WARNING, logger="core.video.reader"):
        frames = [f.index for f in read_frames(damaged, size=(64, 48), max_damaged=None)]
    assert frames == list(range(60))
    warned = [r.getMessage() for r in caplog.records if "decode errors damaged" in r.getMessage()]
    assert len(warned) == 1 and "-59)" in warned[0]
    clean = [f.index for f in read_frames(REPO / "assets" / "tum_desk.mp4", size=(64, 48))]
    assert clean == list(range(60))  # an intact file: no false alarm


def test_depth_refuses_a_damaged_video_before_computing_depth(damaged, tmp_path, vits_weights):
    src = tmp_path / "in.mp4"
    shutil.copy(damaged, src)
    before = snapshot(src)
    r = run("core.depth", src, "-o", tmp_path / "p", "--model", "vda-s", "--weights", vits_weights,
            "--input-size", "70", "--device", "cpu", "--max-res", "64")
    assert r.returncode == 2
    line = one_error_line(r.stderr.splitlines()[-1])
    assert "decode errors damaged" in line and "--ignore-decode-errors" in line and "Traceback" not in r.stderr
    assert not (tmp_path / "p").exists() and snapshot(src) == before


@pytest.fixture(scope="module")
def commands():
    """Command lines forked from one process that imported the libraries (each runs as ``python -m`` does)."""
    c = Commands()
    yield c
    c.close()


def test_point_clouds_and_meshes_refuse_a_damaged_video_unless_ignored(damaged, tmp_path, vits_weights, commands):
    src = tmp_path / "in.mp4"
    shutil.copy(damaged, src)
    before = snapshot(src)
    engine = ("--model", "vda-s", "--weights", vits_weights, "--input-size", "70", "--device", "cpu",
              "--max-res", "64")
    for command in ("core.pointcloud", "core.mesh"):
        r = commands(command, src, "-o", tmp_path / command, *engine)
        assert r.returncode == 2, r.stderr
        line = one_error_line(r.stderr.splitlines()[-1])
        assert "decode errors damaged" in line and "--ignore-decode-errors" in line and "Traceback" not in r.stderr
        assert not (tmp_path / command).exists() and snapshot(src) == before
    out = tmp_path / "pc"
    r = commands("core.pointcloud", src, "-o", out, *engine, "--frames", "58-59", "--ignore-decode-errors")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.glob("*.ply")) == ["000058.ply", "000059.ply"]
    assert "decode errors damaged" in r.stderr and snapshot(src) == before  # warned, with the frame range
    mesh = tmp_path / "mesh"  # the pass just made is reused: the option reaches the same job
    r = commands("core.mesh", src, "-o", mesh, *engine, "--pass-dir", out / "depth_pass", "--frames", "59",
                 "--ignore-decode-errors")
    assert r.returncode == 0, r.stderr
    assert [p.name for p in mesh.iterdir() if not p.name.startswith(".")] == ["000059.glb"]
