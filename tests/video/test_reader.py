"""probe and read_frames on real files written with PyAV."""

from pathlib import Path

import numpy as np
import pytest

from core.video import (
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    TruncatedVideoError,
    VideoError,
    VideoPathError,
    frame_times,
    probe,
    read_frames,
    read_span,
)

from .media import frame_level, level, write_video


def test_probe_and_read_constant_rate(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a.mp4", frames=12, fps=10)
    info = probe(path)
    assert (info.width, info.height, info.fps, info.frame_count) == (64, 48, 10.0, 12)
    assert info.frame_count_exact and info.duration == pytest.approx(1.2)
    assert (info.bit_depth, info.pix_fmt, info.rotation, info.has_alpha) == (8, "yuv420p", 0, False)
    frames = list(read_frames(path))
    assert [f.index for f in frames] == list(range(12))
    assert [f.pts for f in frames] == pytest.approx([i / 10 for i in range(12)])
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in frames)
    assert [round(frame_level(f.image)) for f in frames] == pytest.approx([level(i) for i in range(12)], abs=2)


def test_variable_frame_rate_keeps_real_timestamps(tmp_path: Path) -> None:
    times = [0.0, 0.1, 0.15, 0.4, 0.45, 0.9, 1.3]
    path = write_video(tmp_path / "vfr.mkv", pts=times)
    info = probe(path)
    assert not info.frame_count_exact  # Matroska does not store a frame count ...
    assert probe(path, count_frames=True).frame_count == 7  # ... but the packets can be counted
    frames = list(read_frames(path))
    assert [f.pts for f in frames] == pytest.approx(times, abs=1e-3)
    assert [round(frame_level(f.image)) for f in frames] == pytest.approx([level(i) for i in range(7)], abs=2)


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_is_applied(tmp_path: Path, rotation: int) -> None:
    path = write_video(tmp_path / "rot.mp4", frames=3, rotation=rotation)
    info = probe(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == ((48, 64) if rotation % 180 else (64, 48))
    image = next(iter(read_frames(path))).image
    assert image.shape == (info.height, info.width, 3)
    # the white block starts top-left; counter-clockwise turns move it to a known corner
    corner = {90: image[-4:, :4], -90: image[:4, -4:], 180: image[-4:, -4:]}[rotation]
    assert corner.min() > 230


def test_ten_bit_hevc_decodes_through_16_bit(tmp_path: Path) -> None:
    path = write_video(tmp_path / "deep.mkv", frames=4, codec="libx265", pix_fmt="yuv420p10le")
    info = probe(path)
    assert (info.bit_depth, info.pix_fmt) == (10, "yuv420p10le")
    as_float = [f.image for f in read_frames(path, dtype="float32")]
    as_bytes = [f.image for f in read_frames(path)]
    assert as_float[2].dtype == np.float32 and 0.0 <= as_float[2].min() and as_float[2].max() <= 1.0
    # the float path keeps more than 8 bits: values fall between the 256 uint8 steps
    assert np.any(np.abs(as_float[2] * 255 - np.round(as_float[2] * 255)) > 0.05)
    assert np.abs(as_float[2] * 255 - as_bytes[2]).max() <= 0.5 + 1e-3
    assert frame_level(as_bytes[2]) == pytest.approx(level(2), abs=2)


@pytest.mark.parametrize(("pix_fmt", "alpha"), [("gray", False), ("yuva420p", True)])
def test_gray_and_alpha_become_rgb(tmp_path: Path, pix_fmt: str, alpha: bool) -> None:
    path = write_video(tmp_path / "g.mkv", frames=4, codec="ffv1", pix_fmt=pix_fmt)
    info = probe(path)
    assert (info.pix_fmt, info.has_alpha) == (pix_fmt, alpha)
    image = list(read_frames(path))[3].image
    assert image.shape == (48, 64, 3)
    assert frame_level(image) == pytest.approx(level(3), abs=2)
    assert np.ptp(image[30:, 40:], axis=2).max() <= 2  # grey stays grey


def test_start_end_stride_size(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a.mp4", frames=20, fps=10)
    frames = list(read_frames(path, start=0.5, end=1.5, stride=3, size=(32, 24), dtype="float32"))
    assert [f.index for f in frames] == [5, 8, 11, 14]
    assert [f.pts for f in frames] == pytest.approx([0.5, 0.8, 1.1, 1.4])
    assert frames[0].image.shape == (24, 32, 3) and frames[0].image.dtype == np.float32
    assert frame_level(frames[1].image) == pytest.approx(level(8), abs=2)


def test_seek_start_with_b_frames_keeps_source_indices(tmp_path: Path) -> None:
    path = write_video(tmp_path / "b.mp4", frames=40, fps=25)
    times = [f.pts for f in read_frames(path)]
    late = list(read_frames(path, start=times[27]))
    assert [f.index for f in late] == list(range(27, 40))
    assert [f.pts for f in late] == pytest.approx(times[27:])


def test_read_span_gives_exactly_the_frames_at_the_times_after_a_seek(tmp_path: Path) -> None:
    """A worker's share (``read_span``): the frames of a B-frame clip between its neighbours, the same pixels as a
    decode from the start; other times than the file's (the video changed since?) are refused."""
    path = write_video(tmp_path / "b.mp4", frames=40, fps=25)
    whole, times = list(read_frames(path)), frame_times(path)
    part = list(read_span(path, times[27:31], times[26], times[31]))
    assert [f.index for f in part] == list(range(27, 31))
    assert all(np.array_equal(a.image, b.image) and a.pts == b.pts for a, b in zip(part, whole[27:31]))
    assert [f.index for f in read_span(path, times[36:], times[35])] == list(range(36, 40))  # to the end
    with pytest.raises(VideoError, match="changed since"):  # a frame the file does not have
        list(read_span(path, [*times[27:29], times[29] + 0.01], times[26], times[30]))
    with pytest.raises(VideoError, match="changed since"):  # more frames than the times say
        list(read_span(path, times[36:39], times[35]))


def test_tum_clip(tum_rgb: Path) -> None:
    info = probe(tum_rgb)
    assert (info.width, info.height, info.frame_count, info.frame_count_exact) == (640, 480, 300, True)
    assert info.fps == pytest.approx(30.0)
    frames = list(read_frames(tum_rgb, start=9.0))
    assert [f.index for f in frames] == list(range(270, 300))
    assert frames[-1].pts == pytest.approx(299 / 30, abs=1e-3)


def test_missing_and_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(VideoPathError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(VideoPathError, match="not a file"):
        list(read_frames(tmp_path))


def test_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(NotAVideoError, match="not a video"):
        probe(text)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(NotAVideoError, match="empty"):
        list(read_frames(tmp_path / "empty.mp4"))


def test_audio_only_has_no_video_stream(tmp_path: Path) -> None:
    import av

    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        frame.sample_rate = 48000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(NoVideoStreamError, match="no video stream"):
        probe(path)


def test_zero_frames(tmp_path: Path) -> None:
    import av

    path = tmp_path / "zero.mkv"  # a declared video stream that never gets a packet (only audio does)
    with av.open(str(path), "w") as out:
        video = out.add_stream("ffv1", rate=10)
        video.width, video.height = 64, 48
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    with pytest.raises(EmptyVideoError, match="no frames"):
        probe(path)
    with pytest.raises(EmptyVideoError, match="no video frames"):
        list(read_frames(path))
    ok = write_video(tmp_path / "ok.mp4", frames=5)
    with pytest.raises(EmptyVideoError, match="between"):
        list(read_frames(ok, start=3.0))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_truncated_file_decodes_what_it_can_then_says_where(tmp_path: Path, suffix: str) -> None:
    path = write_video(tmp_path / f"whole{suffix}", frames=40, codec="ffv1", pix_fmt="yuv420p")
    cut = tmp_path / f"cut{suffix}"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2] if suffix == ".mkv" else _faststart_cut(path, tmp_path))
    got = []
    with pytest.raises(TruncatedVideoError, match=r"truncated.*frame \d+ \(t=") as caught:
        for frame in read_frames(cut):
            got.append(frame.index)
    assert 5 < len(got) < 40
    assert got == list(range(len(got)))
    assert caught.value.frames_decoded == len(got)


def _faststart_cut(path: Path, tmp_path: Path) -> bytes:
    """An MP4 with its index first (faststart), cut in the middle of its media data."""
    import av

    fast = tmp_path / "fast.mp4"
    with av.open(str(path)) as src, av.open(str(fast), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = fast.read_bytes()
    return data[: len(data) // 2]
