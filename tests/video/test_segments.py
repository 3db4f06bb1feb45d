"""SegmentedWriter: segments joined losslessly, interrupted runs resumed, changed jobs restarted (real files)."""

import json
from itertools import islice
from pathlib import Path

import av
import numpy as np
import pytest

from core.video import EncodeSettings, SegmentedWriter, VideoError, VideoWriter, probe, read_frames

from .media import (
    SUBTITLES,
    frame_level,
    level,
    stream_span,
    subtitle_texts,
    write_video,
)

N = 20


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("src") / "src.mp4", frames=N, fps=10, audio="aac", subtitles=True)


def _encode(src: Path, dst: Path, settings: EncodeSettings, *, stop_after: int | None = None, **kwargs) -> int:
    """Re-encode ``src`` into ``dst`` in 6-frame segments from the writer's resume point; with ``stop_after``
    the run is interrupted (KeyboardInterrupt) after that many frames. Returns the resume point."""
    info = probe(src)
    with SegmentedWriter(dst, info.width, info.height, info.rate, settings, source=src, segment_frames=6,
                         **kwargs) as out:
        for k, frame in enumerate(islice(read_frames(src), out.resume_point, None)):
            if k == stop_after:
                raise KeyboardInterrupt
            out.write(frame.image, frame.pts)
    return out.resume_point


def _decoded(path: Path) -> list[tuple[float, np.ndarray]]:
    return [(f.pts, f.image) for f in read_frames(path)]


def _video_packets(path: Path) -> list[tuple[int, int, bool, bytes]]:
    with av.open(str(path)) as c:
        return [(p.pts, p.dts, p.is_keyframe, bytes(p)) for p in c.demux(c.streams.video[0]) if p.size]


@pytest.mark.parametrize("name, codec", [("out.mp4", "h264"), ("out.mkv", "h265"), ("out.mkv", "ffv1")])
def test_segments_join_into_one_stream_with_audio_subtitles_and_times(source, tmp_path, name, codec):
    dst = tmp_path / name
    settings = EncodeSettings(codec=codec, preset="ultrafast" if codec == "h264" else "medium",
                              stream_metadata={"language": "fra"})
    _encode(source, dst, settings)
    plain = tmp_path / f"plain{dst.suffix}"  # the one-piece writer, for the audio/subtitle timing
    with VideoWriter(plain, 64, 48, 10, settings, source=source) as out:
        for frame in read_frames(source):
            out.write(frame.image, frame.pts)
    info = probe(dst)
    assert (info.frame_count, info.fps, info.audio_streams, info.subtitle_streams) == (N, 10.0, 1, 1)
    frames = _decoded(dst)
    assert [round(t, 3) for t, _ in frames] == [round(i / 10, 3) for i in range(N)]
    assert [round(frame_level(img)) for _, img in frames] == pytest.approx([level(i) for i in range(N)], abs=3)
    assert subtitle_texts(dst) == subtitle_texts(plain) and len(subtitle_texts(dst)) == len(SUBTITLES)
    assert stream_span(dst, "audio") == stream_span(plain, "audio")
    packets = _video_packets(dst)
    dts = [d for _, d, _, _ in packets if d is not None]  # Matroska stores none for the first B-frame delay
    assert dts == sorted(set(dts)) and all(d <= p for p, d, _, _ in packets if d is not None)  # one decode clock
    assert all(packets[i][2] for i in range(0, N, 6))  # each segment starts on a key frame
    with av.open(str(dst)) as c:
        assert c.streams.video[0].metadata.get("language") == "fra"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, plain.name])  # work folder removed


def test_interrupted_run_resumes_to_the_same_file(source, tmp_path):
    settings = EncodeSettings(preset="medium", codec_options={"x264-params": "frame-packing=3"})
    reference = tmp_path / "ref.mp4"
    assert _encode(source, reference, settings) == 0
    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        _encode(source, dst, settings, stop_after=9)
    work = tmp_path / ".out.mp4.work"
    assert not dst.exists() and [s["frames"] for s in json.loads((work / "job.json").read_text())["segments"]] == [6]
    assert sorted(p.name for p in work.iterdir()) == ["job.json", "segment_00000.mov"]  # partial segment dropped
    assert _encode(source, dst, settings) == 6
    assert _video_packets(dst) == _video_packets(reference)
    for (ta, a), (tb, b) in zip(_decoded(dst), _decoded(reference), strict=True):
        assert ta == tb and np.array_equal(a, b)
    assert probe(dst).audio_streams == 1 and not work.exists()
    with av.open(str(dst)) as c:  # x264's frame-packing SEI travels with the copied key frames
        sides = [[s.type for s in f.side_data] for f in c.decode(video=0)]
    assert all(av.sidedata.sidedata.Type.STEREO3D in sides[i] for i in range(0, N, 6))


def test_a_run_killed_while_removing_its_work_folder_is_finished_by_the_next(source, tmp_path):
    settings = EncodeSettings(preset="ultrafast")
    dst = tmp_path / "out.mp4"
    _encode(source, dst, settings)
    done = dst.read_bytes()
    work = tmp_path / ".out.mp4.work"  # what a kill -9 during the final removal of the work folder leaves
    work.mkdir()
    (work / "job.json").write_text("{}")
    (work / "segment_00002.mov").write_bytes(b"a finished segment")
    info = probe(source)
    with SegmentedWriter(dst, info.width, info.height, info.rate, settings, source=source, segment_frames=6) as out:
        assert out.complete
    assert dst.read_bytes() == done and sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def _resume_point(src: Path, dst: Path, settings: EncodeSettings, **kwargs) -> int:
    info = probe(src)
    writer = SegmentedWriter(dst, info.width, info.height, info.rate, settings, source=src, segment_frames=6, **kwargs)
    writer.open()
    writer.abort()
    return writer.resume_point


def test_changed_job_starts_afresh(source, tmp_path):
    dst = tmp_path / "out.mkv"
    settings = EncodeSettings(preset="ultrafast")
    with pytest.raises(KeyboardInterrupt):
        _encode(source, dst, settings, stop_after=13, fingerprint={"divergence": 2.0})
    assert _resume_point(source, dst, settings, fingerprint={"divergence": 2.0}) == 12
    assert _resume_point(source, dst, EncodeSettings(preset="ultrafast", crf=30), fingerprint={"divergence": 2.0}) == 0
    with pytest.raises(KeyboardInterrupt):
        _encode(source, dst, settings, stop_after=13, fingerprint={"divergence": 2.0})
    assert _encode(source, dst, settings, fingerprint={"divergence": 3.0}) == 0
    assert probe(dst).frame_count == N


def test_segments_encoded_out_of_order_through_the_spec_join_like_one_run(source, tmp_path):
    """What a Ray task does (``core.cluster.stereo``): segment k encoded through ``spec`` and listed with ``record``,
    last first; a join with a segment missing is refused and keeps the listed ones, the full set joins into the
    sequential writer's video."""
    settings = EncodeSettings(preset="ultrafast")
    reference = tmp_path / "ref.mp4"
    _encode(source, reference, settings)
    frames, info, dst = list(read_frames(source)), probe(source), tmp_path / "out.mp4"
    spans = [frames[i : i + 6] for i in range(0, N, 6)]  # 6, 6, 6, 2 frames

    def run(order: list[int]) -> SegmentedWriter:
        with SegmentedWriter(dst, info.width, info.height, info.rate, settings, source=source,
                             segment_frames=6) as out:
            listed = sorted(out.finished)
            for k in order:
                segment = out.spec.open(k)
                for f in spans[k]:
                    segment.write(f.image, f.pts)
                out.record(k, out.spec.finish(segment, spans[k][-1].pts))
        out.listed_at_open = listed
        return out

    with pytest.raises(VideoError, match="segment 0 of 4 is missing"):
        run([3, 1])
    assert not dst.exists()
    assert run([2, 0]).listed_at_open == [1, 3]
    assert _video_packets(dst) == _video_packets(reference)
    assert stream_span(dst, "audio") == stream_span(reference, "audio")
