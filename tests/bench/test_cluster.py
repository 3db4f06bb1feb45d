"""``python -m core.bench cluster``'s input: the synthetic clip has the shots it is asked for, as the job's scan
finds them (the benchmark's per-shot figures depend on it)."""

from __future__ import annotations

from core.bench.cluster import multi_shot_video
from core.depth.shots import detect_cuts
from core.video import probe, read_frames


def test_the_synthetic_clip_has_the_shots_asked_for(tmp_path):
    clip = multi_shot_video(tmp_path / "shots.mp4", shots=3, frames=16, width=96, height=64)
    scan = detect_cuts(f.image for f in read_frames(clip))
    assert probe(clip).frame_count == scan.frame_count == 48
    assert scan.bounds() == [(0, 16), (16, 32), (32, 48)]
