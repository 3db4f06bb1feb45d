"""Cut detection on real footage: a handheld continuous shot is one shot; a splice of two parts of it is two."""

import itertools

from core.depth.shots import detect_cuts, scan_size
from core.video import read_frames
from tests.shared_data import TUM


def _tum_frames(n: int) -> list:
    size = scan_size(640, 480)
    return [f.image for f in itertools.islice(read_frames(TUM / "rgb.mp4", size=size), n)]


def test_handheld_camera_motion_is_not_a_cut():
    scan = detect_cuts(_tum_frames(300))
    assert scan.frame_count == 300 and scan.cuts == []


def test_splice_of_the_same_room_is_a_cut():
    frames = _tum_frames(260)
    scan = detect_cuts(frames[:40] + frames[200:260])
    assert scan.cuts == [40] and scan.bounds() == [(0, 40), (40, 100)]
