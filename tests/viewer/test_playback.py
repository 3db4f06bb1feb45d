import pytest

from core.errors import DepthshotError
from core.viewer.playback import Playback


def test_plays_at_the_frame_rate_times_the_speed_and_loops():
    p = Playback(frame_count=4, fps=10.0)
    assert not p.advance(0.05)  # half a frame period: still frame 0
    assert p.advance(0.05) and p.position == 1
    p.faster()
    assert p.speed == 2.0
    p.advance(0.1)  # two frames at double speed
    assert p.position == 3
    p.advance(0.05)
    assert p.position == 0  # wrapped


def test_without_loop_playback_stops_on_the_last_frame():
    p = Playback(frame_count=3, fps=10.0, loop=False)
    p.advance(1.0)
    assert p.position == 2 and not p.playing
    assert not p.advance(1.0)


def test_pause_and_step():
    p = Playback(frame_count=5)
    p.toggle()
    assert not p.playing and not p.advance(10.0) and p.position == 0
    p.step(-1)
    assert p.position == 4  # looping wraps backwards too
    p.loop = False
    p.step(3)
    assert p.position == 4 and not p.playing
    p.toggle()
    assert p.playing


def test_speed_steps_are_bounded():
    p = Playback(frame_count=2)
    for _ in range(20):
        p.slower()
    assert p.speed == 0.125
    for _ in range(20):
        p.faster()
    assert p.speed == 8.0


@pytest.mark.parametrize("kwargs", [{"frame_count": 0}, {"frame_count": 2, "fps": 0}, {"frame_count": 2, "speed": -1}])
def test_bad_settings(kwargs):
    with pytest.raises(DepthshotError):
        Playback(**kwargs)
