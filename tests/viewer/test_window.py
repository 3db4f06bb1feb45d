"""The interactive player (:mod:`core.viewer.window`) driven headless: ``drive_player.py`` opens the real player
offscreen (Open3D's legacy visualizer falls back to EGL with Mesa when there is no display), presses its keys
through the callbacks it registers and captures the rendered frames; it runs in a subprocess because the legacy
visualizer must not share a process with the offscreen renderer of the screenshot tests."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.cli import run_main
from core.geometry.camera import Intrinsics
from core.viewer.__main__ import main
from core.viewer.camera import look_at_extrinsic, orbit_eye
from core.viewer.frames import list_frames, load_cloud
from tests.viewer.clouds import red_mask, write_squares
from tests.viewer.drive_player import SIZE

ROOT = Path(__file__).resolve().parents[2]
W, H = SIZE
ROWS = slice(40, 80)
SQUARES = [(ROWS, slice(10, 50)), (ROWS, slice(60, 100)), (ROWS, slice(110, 150))]  # left, middle, right
ORBIT_DEG = 30.0


def drive(folder: Path, out: Path, *orbit: str) -> dict[str, np.ndarray]:
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "viewer" / "drive_player.py"), str(folder), str(out),
                          *orbit], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr[-2000:]
    with np.load(out) as data:
        return dict(data)


@pytest.fixture(scope="module")
def clouds(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("player") / "clouds"
    write_squares(folder, SQUARES, SIZE)
    return folder


@pytest.fixture(scope="module")
def played(clouds) -> dict[str, np.ndarray]:
    """The images and states of the driver's scripted session (see ``drive_player.main``)."""
    return drive(clouds, clouds.parent / "played.npz")


def shows(image: np.ndarray, square: int) -> bool:
    """Whether ``image`` shows exactly square ``square`` where it was filmed (points are 2 px wide)."""
    rows, cols = SQUARES[square]
    red = red_mask(image)
    expected = np.zeros((H, W), bool)
    expected[rows, cols] = True
    near = np.zeros((H, W), bool)
    near[rows.start - 2 : rows.stop + 2, cols.start - 2 : cols.stop + 2] = True
    return (red & expected).sum() >= 0.95 * expected.sum() and not (red & ~near).any()


def state(played, label: str) -> dict:
    position, playing, loop, speed, shown = played[f"{label}/state"]
    return {"position": int(position), "playing": bool(playing), "loop": bool(loop), "speed": speed,
            "shown": int(shown)}


def test_player_opens_headless_at_the_recording_camera(played):
    image = played["start/image"]
    assert image.shape == (H, W, 3)
    assert shows(image, 0) and not shows(image, 1)
    assert (image[~red_mask(image)] < 60).all()  # the dark background elsewhere


def test_playing_advances_at_the_frame_rate_and_loops(played):
    assert not played["half/changed"] and shows(played["half/image"], 0)
    assert played["play1/changed"] and shows(played["play1/image"], 1)
    assert shows(played["play2/image"], 2)
    assert shows(played["wrap/image"], 0) and state(played, "wrap")["playing"]


def test_pause_holds_the_frame(played):
    assert not state(played, "pause")["playing"]
    assert not played["paused/changed"]
    assert state(played, "paused")["position"] == 0 and shows(played["paused/image"], 0)


def test_steps_move_the_square_both_ways_and_wrap(played):
    assert state(played, "step_forward") == {"position": 1, "playing": False, "loop": True, "speed": 1.0,
                                             "shown": 1}
    assert shows(played["step_forward/image"], 1)
    assert state(played, "step_back_wrap")["position"] == 2  # 1 -> 0 -> wraps to the last frame
    assert shows(played["step_back_wrap/image"], 2)


def test_speed_keys_change_the_playback_rate(played):
    fast = state(played, "fast")
    assert fast["speed"] == 2.0 and fast["playing"]
    assert shows(played["fast/image"], 2)  # two frames in 0.1 s at 10 fps
    assert state(played, "slow")["speed"] == 0.5
    assert not played["slow_half/changed"]  # half a frame in 0.1 s at half speed
    assert shows(played["slow/image"], 0)  # a whole one in 0.2 s (wrapped from the last frame)


def test_without_loop_playback_stops_on_the_last_frame(played):
    end = state(played, "no_loop_end")
    assert end["position"] == 2 and not end["playing"] and not end["loop"]
    assert shows(played["no_loop_end/image"], 2)


def test_orbit_key_turns_the_view_and_home_key_brings_it_back(played):
    before, orbit = played["no_loop_end/image"], played["orbit/image"]
    assert red_mask(orbit).any() and (np.abs(orbit.astype(int) - before).max(axis=2) > 50).sum() > 30
    np.testing.assert_array_equal(played["orbit_stopped/image"], orbit)  # O again: the view stays put
    np.testing.assert_array_equal(played["home/image"], before)


def test_start_view_orbits_about_the_scene_centre(clouds):
    image = drive(clouds, clouds.parent / "orbited.npz", str(ORBIT_DEG))["start/image"]
    points = np.asarray(load_cloud(list_frames(clouds)[0]).points)
    centre = np.array([0.0, 0.0, 2.0])
    extrinsic = look_at_extrinsic(orbit_eye(centre, ORBIT_DEG), centre)
    cam = points @ extrinsic[:3, :3].T + extrinsic[:3, 3]
    k = Intrinsics.from_fov(W, H)
    u, v = k.fx * cam[:, 0] / cam[:, 2] + k.cx, k.fy * cam[:, 1] / cam[:, 2] + k.cy
    rows, cols = np.nonzero(red_mask(image))
    assert len(rows)
    np.testing.assert_allclose([cols.min(), cols.max(), rows.min(), rows.max()],
                               [u.min(), u.max(), v.min(), v.max()], atol=2.0)
    assert abs(cols.min() - 10) > 10  # not the unorbited view


def test_no_display_is_a_clear_error(clouds, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert run_main(main, [str(clouds)]) == 2
    assert "no display" in capsys.readouterr().err
