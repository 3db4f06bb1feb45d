"""Cut detection on real footage: a handheld continuous shot is one shot; a splice of two parts of it is two; cuts
found as the frames go by (the depth job's decode pass) are those of the whole stream."""

import itertools

import cv2
import pytest

from core.depth.shots import CutDetector, detect_cuts, flag_cuts, scan_size
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


def _three_shot_clip(path):
    from .videos import scene_frames, write_video

    w, h = 320, 240  # bigger than the detector's 256 px: the frames are scaled down for it
    frames = [*scene_frames(20, w, h, seed=1), *scene_frames(25, w, h, seed=2), *scene_frames(18, w, h, seed=3)]
    return write_video(path, frames)


class _Counted:
    """An iterator over ``items`` that counts how many were taken."""

    def __init__(self, items) -> None:
        self.items, self.taken = iter(items), 0

    def __iter__(self):
        return self

    def __next__(self):
        item = next(self.items)
        self.taken += 1
        return item


def test_cuts_found_as_the_frames_go_by_are_those_of_the_whole_stream(tmp_path):
    """flag_cuts on full-size decoded frames finds detect_cuts' cuts over the same frames scaled down (and the
    job's old separate scan's), and hands each frame on only once the detector has seen its ``lag`` successors."""
    clip = _three_shot_clip(tmp_path / "three.mp4")
    frames = list(read_frames(clip))
    size = scan_size(320, 240)
    whole = detect_cuts(cv2.resize(f.image, size, interpolation=cv2.INTER_AREA) for f in frames)
    scanned = detect_cuts(f.image for f in read_frames(clip, size=size))
    assert whole.cuts == scanned.cuts == [20, 45]

    source, detector = _Counted(frames), CutDetector()
    flagged = []
    for i, (frame, starts) in enumerate(flag_cuts(source, size, detector)):
        assert source.taken == min(i + 1 + detector.lag, len(frames))  # its successors seen, no more
        assert frame is frames[i]
        flagged.append(starts)
    assert detector.lag == 2 and [i for i, s in enumerate(flagged) if s] == whole.cuts


def test_a_cut_reported_after_its_frame_was_handed_on_is_an_error(tmp_path):
    """A detector reporting later than its stated lag cannot go unnoticed (the frame is in the wrong shot)."""
    clip = _three_shot_clip(tmp_path / "three.mp4")
    detector = CutDetector()
    detector.lag = 0  # hands each frame on at once: the cut at 20 comes two frames too late
    with pytest.raises(RuntimeError, match="cut at frame 20 reported after"):
        for _ in flag_cuts(read_frames(clip), scan_size(320, 240), detector):
            pass
