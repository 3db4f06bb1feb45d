"""VideoWriter round trips and refusals, on real files read back with PyAV."""

import os
from pathlib import Path

import av
import numpy as np
import pytest

from core.video import (
    EmptyVideoError,
    EncodeSettings,
    EncodeSettingsError,
    VideoPathError,
    VideoWriter,
    probe,
    read_frames,
)

from .media import (
    SUBTITLES,
    frame_level,
    level,
    pattern,
    stream_span,
    subtitle_texts,
    write_video,
)


def _copy(src: Path, dst: Path, settings: EncodeSettings | None = None, **kwargs) -> list[float]:
    """Re-encode ``src`` into ``dst`` frame by frame; returns the pts written."""
    info = probe(src)
    written = []
    reader = read_frames(src, start=kwargs.get("start"), end=kwargs.get("end"))
    with VideoWriter(dst, info.width, info.height, info.rate, settings, source=src, **kwargs) as out:
        for frame in reader:
            out.write(frame.image, frame.pts)
            written.append(frame.pts)
    return written


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


def test_round_trip_keeps_frames_timestamps_and_size(tmp_path: Path) -> None:
    src = write_video(tmp_path / "src.mp4", frames=15, fps=10)
    dst = tmp_path / "dst.mp4"
    _copy(src, dst, EncodeSettings(preset="ultrafast", crf=10))
    info = probe(dst)
    assert (info.width, info.height, info.frame_count, info.fps) == (64, 48, 15, 10.0)
    frames = list(read_frames(dst))
    assert [f.pts for f in frames] == pytest.approx([i / 10 for i in range(15)], abs=1e-4)
    assert [frame_level(f.image) for f in frames] == pytest.approx([level(i) for i in range(15)], abs=2)
    assert _leftovers(tmp_path) == []


def test_variable_frame_rate_round_trip(tmp_path: Path) -> None:
    times = [0.0, 0.1, 0.15, 0.4, 0.45, 0.9, 1.3]
    src = write_video(tmp_path / "vfr.mkv", pts=times)
    for suffix in (".mp4", ".mkv"):
        dst = tmp_path / f"out{suffix}"
        _copy(src, dst, EncodeSettings(preset="ultrafast"))
        assert [f.pts for f in read_frames(dst)] == pytest.approx(times, abs=1e-3)


def test_rotation_is_baked_into_the_output(tmp_path: Path) -> None:
    src = write_video(tmp_path / "rot.mp4", frames=3, rotation=90)
    dst = tmp_path / "upright.mp4"
    _copy(src, dst, EncodeSettings(preset="ultrafast"))
    info = probe(dst)
    assert (info.width, info.height, info.rotation) == (48, 64, 0)
    assert next(iter(read_frames(dst))).image[-4:, :4].min() > 230


def test_audio_and_subtitles_are_remuxed_in_sync(tmp_path: Path) -> None:
    src = write_video(tmp_path / "src.mp4", frames=20, fps=10, audio="aac", subtitles=True)
    dst = tmp_path / "dst.mp4"
    _copy(src, dst, EncodeSettings(preset="ultrafast"))
    src_audio, dst_audio = stream_span(src, "audio"), stream_span(dst, "audio")
    assert dst_audio[2] == "aac"
    assert dst_audio[0] == pytest.approx(src_audio[0], abs=1e-3)  # first packet time
    assert dst_audio[1] == pytest.approx(src_audio[1], abs=1e-3)  # end of the stream
    assert stream_span(dst, "video")[:2] == pytest.approx(stream_span(src, "video")[:2], abs=1e-3)
    assert subtitle_texts(dst) == [(start, text) for start, _, text in SUBTITLES]
    assert _same_audio_packets(src, dst)


def _same_audio_packets(a: Path, b: Path) -> bool:
    with av.open(str(a)) as x, av.open(str(b)) as y:
        left = [bytes(p) for p in x.demux(x.streams.audio[0]) if p.size]
        right = [bytes(p) for p in y.demux(y.streams.audio[0]) if p.size]
    return left == right


def test_trimmed_window_trims_audio_and_subtitles(tmp_path: Path) -> None:
    src = write_video(tmp_path / "src.mkv", frames=30, fps=10, audio="flac", subtitles=True)
    dst = tmp_path / "cut.mkv"
    written = _copy(src, dst, EncodeSettings(preset="ultrafast"), start=1.0, end=2.0)
    assert written == pytest.approx([1.0 + i / 10 for i in range(10)])
    frames = list(read_frames(dst))
    assert frames[0].pts == pytest.approx(0.0) and len(frames) == 10
    assert frame_level(frames[0].image) == pytest.approx(level(10), abs=2)
    first, last, codec = stream_span(dst, "audio")
    assert codec == "flac" and first == pytest.approx(0.0, abs=0.1) and last == pytest.approx(1.0, abs=0.1)
    # "Hello" (0.5-1.2 s in the source) is on screen at the cut: it stays, from 0 to 0.2 s; "World" was at 1.5 s
    assert subtitle_texts(dst) == [(0.0, "Hello"), (0.5, "World")]


def test_subtitles_change_format_with_the_container(tmp_path: Path) -> None:
    src = write_video(tmp_path / "src.mkv", frames=30, fps=10, subtitles=True)
    to_mp4 = tmp_path / "dst.mp4"
    _copy(src, to_mp4, EncodeSettings(preset="ultrafast"))
    assert stream_span(to_mp4, "subtitles")[2] == "mov_text"
    assert subtitle_texts(to_mp4) == [(start, text) for start, _, text in SUBTITLES]
    back = tmp_path / "back.mkv"
    _copy(to_mp4, back, EncodeSettings(preset="ultrafast"))
    assert stream_span(back, "subtitles")[2] == "srt"  # FFmpeg's name for SubRip
    assert subtitle_texts(back) == [(start, text) for start, _, text in SUBTITLES]


def test_audio_the_container_cannot_hold_is_reencoded_to_aac(tmp_path: Path) -> None:
    src = write_video(tmp_path / "src.mov", frames=20, fps=10, audio="pcm_u8")
    dst = tmp_path / "dst.mp4"
    _copy(src, dst, EncodeSettings(preset="ultrafast"))
    first, last, codec = stream_span(dst, "audio")
    assert codec == "aac"
    assert last - first == pytest.approx(2.0, abs=0.05)


def test_copy_flags_leave_streams_out(tmp_path: Path) -> None:
    src = write_video(tmp_path / "src.mp4", frames=10, audio="aac", subtitles=True)
    dst = tmp_path / "dst.mp4"
    _copy(src, dst, EncodeSettings(preset="ultrafast"), copy_audio=False, copy_subtitles=False)
    info = probe(dst)
    assert (info.audio_streams, info.subtitle_streams) == (0, 0)


def test_colour_metadata_is_copied_from_the_source(tmp_path: Path) -> None:
    bt2020 = {"color_primaries": 9, "color_trc": 14, "colorspace": 9, "color_range": 2}
    src = write_video(tmp_path / "src.mkv", frames=5, color=bt2020)
    assert probe(src).color.matrix == 9
    dst = tmp_path / "dst.mp4"
    _copy(src, dst, EncodeSettings(preset="ultrafast"))
    color = probe(dst).color
    assert (color.primaries, color.transfer, color.matrix, color.range) == (9, 14, 9, 2)
    plain = tmp_path / "plain.mp4"
    _copy(src, plain, EncodeSettings(preset="ultrafast"), copy_color=False)
    assert probe(plain).color.matrix == 1  # BT.709 by default


def test_colours_survive_a_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = np.repeat(np.repeat(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), 8, 0), 8, 1)
    dst = tmp_path / "c.mkv"
    with VideoWriter(dst, 64, 48, 10, EncodeSettings(codec="h264", pix_fmt="yuv444p", crf=0)) as out:
        out.write(image)
    back = next(iter(read_frames(dst))).image.astype(int)
    assert np.abs(back - image).mean() < 1.5


@pytest.mark.parametrize(
    ("settings", "suffix", "pix_fmt"),
    [
        (EncodeSettings(codec="h265", preset="ultrafast", pix_fmt="yuv420p10le"), ".mp4", "yuv420p10le"),
        (EncodeSettings(codec="ffv1"), ".mkv", "yuv444p"),
        (EncodeSettings(codec="prores"), ".mov", "yuv422p10le"),
        (EncodeSettings(codec="h264", preset="ultrafast", pix_fmt="rgb24"), ".mkv", "gbrp"),
    ],
)
def test_codecs_and_pixel_formats(tmp_path: Path, settings: EncodeSettings, suffix: str, pix_fmt: str) -> None:
    dst = tmp_path / f"out{suffix}"
    with VideoWriter(dst, 64, 48, 24, settings) as out:
        for i in range(4):
            out.write(pattern(i, 64, 48))
    info = probe(dst)
    assert (info.pix_fmt, info.frame_count if info.frame_count_exact else 4) == (pix_fmt, 4)
    assert [frame_level(f.image) for f in read_frames(dst)] == pytest.approx([level(i) for i in range(4)], abs=2)


def test_sixteen_bit_input_feeds_ten_bit_output(tmp_path: Path) -> None:
    ramp = (np.linspace(0, 65535, 64)[None, :, None] * np.ones((48, 1, 3))).astype(np.uint16)
    dst = tmp_path / "deep.mkv"
    with VideoWriter(dst, 64, 48, 10, EncodeSettings(codec="ffv1", pix_fmt="yuv444p10le")) as out:
        out.write(ramp)
    back = next(iter(read_frames(dst, dtype="float32"))).image
    assert np.abs(back - ramp / 65535.0).max() < 4 / 1023


def test_codec_options_and_stream_metadata(tmp_path: Path) -> None:
    dst = tmp_path / "sbs.mkv"
    settings = EncodeSettings(
        preset="ultrafast", codec_options={"x264-params": "frame-packing=3"}, stream_metadata={"stereo_mode": "left_right"}
    )
    with VideoWriter(dst, 64, 48, 10, settings) as out:
        out.write(pattern(0, 64, 48))
    with av.open(str(dst)) as container:
        assert container.streams.video[0].metadata.get("stereo_mode") == "left_right"


def test_post_process_runs_on_the_temporary_file(tmp_path: Path) -> None:
    seen = []
    dst = tmp_path / "out.mp4"
    with VideoWriter(dst, 64, 48, 10, EncodeSettings(preset="ultrafast"), post_process=seen.append) as out:
        out.write(pattern(0, 64, 48))
        assert not dst.exists()
    assert len(seen) == 1 and seen[0].parent == tmp_path and ".partial-" in seen[0].name
    assert dst.exists() and not seen[0].exists()


def test_odd_size_is_refused_for_subsampled_formats(tmp_path: Path) -> None:
    with pytest.raises(EncodeSettingsError, match="65x48 cannot be encoded as yuv420p.*even"):
        with VideoWriter(tmp_path / "odd.mp4", 65, 48, 10):
            pass
    with VideoWriter(tmp_path / "odd.mkv", 65, 49, 10, EncodeSettings(pix_fmt="yuv444p", preset="ultrafast")) as out:
        out.write(np.zeros((49, 65, 3), np.uint8))
    assert probe(tmp_path / "odd.mkv").width == 65
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mkv"]


def test_writing_onto_the_input_is_refused(tmp_path: Path) -> None:
    src = write_video(tmp_path / "src.mp4", frames=3)
    before = src.read_bytes()
    alias = tmp_path / "." / "src.mp4"
    with pytest.raises(VideoPathError, match="refusing to write onto the input"):
        _copy(src, alias)
    assert src.read_bytes() == before and _leftovers(tmp_path) == []


def test_failure_inside_the_block_leaves_nothing(tmp_path: Path) -> None:
    dst = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(dst, 64, 48, 10, EncodeSettings(preset="ultrafast")) as out:
            out.write(pattern(0, 64, 48))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(EmptyVideoError, match="no frames were written"):
        with VideoWriter(dst, 64, 48, 10):
            pass
    assert list(tmp_path.iterdir()) == []


def test_bad_settings_and_paths(tmp_path: Path) -> None:
    with pytest.raises(EncodeSettingsError, match="cannot hold prores"):
        with VideoWriter(tmp_path / "p.mp4", 64, 48, 10, EncodeSettings(codec="prores")):
            pass
    with pytest.raises(EncodeSettingsError, match="unknown codec"):
        VideoWriter(tmp_path / "x.mp4", 64, 48, 10, EncodeSettings(codec="divx")).open()
    with pytest.raises(EncodeSettingsError, match="cannot encode yuv420p"):
        VideoWriter(tmp_path / "x.mov", 64, 48, 10, EncodeSettings(codec="prores", pix_fmt="yuv420p")).open()
    with pytest.raises(VideoPathError, match="does not exist"):
        VideoWriter(tmp_path / "no" / "x.mp4", 64, 48, 10).open()
    with pytest.raises(VideoPathError, match="cannot write this file type"):
        VideoWriter(tmp_path / "x.unknownext", 64, 48, 10).open()
    assert list(tmp_path.iterdir()) == []


def test_unwritable_location(tmp_path: Path) -> None:
    """A place nobody can write to, root included (CI runs as root): a path below a regular file. For other users
    a read-only folder too (root may write there)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("keep")
    with pytest.raises(VideoPathError, match="is a file, not a folder"):
        VideoWriter(blocker / "x.mp4", 64, 48, 10).open()
    assert blocker.read_text() == "keep" and sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(VideoPathError, match="permission denied"):
            VideoWriter(locked / "x.mp4", 64, 48, 10).open()


def test_tum_clip_re_encode(tum_rgb: Path, tmp_path: Path) -> None:
    dst = tmp_path / "tum.mp4"
    _copy(tum_rgb, dst, EncodeSettings(preset="ultrafast", crf=16), end=1.0)
    assert probe(dst).frame_count == 30
    for a, b in zip(read_frames(tum_rgb, end=1.0, stride=10), read_frames(dst, stride=10)):
        mse = np.mean((a.image.astype(float) - b.image.astype(float)) ** 2)
        assert 10 * np.log10(255**2 / mse) > 35  # PSNR, dB


def test_invalid_decode_times_from_the_encoder_are_repaired(tmp_path):
    """libx265 under CPU load can return garbage dts for 1-2-frame encodes; the writer makes them valid."""
    writer = VideoWriter(tmp_path / "x.mkv", 64, 48, 10)
    packets = []
    for pts, dts in ((0, 102080021671508194), (9000, None), (18000, 9000), (27000, 27000)):
        packet = av.Packet(b"")
        packet.pts, packet.dts = pts, dts
        writer._repair_dts(packet)
        packets.append((packet.pts, packet.dts))
    # garbage above pts -> pts; missing -> pts; not above the previous dts -> pts; valid ones stay
    assert packets == [(0, 0), (9000, 9000), (18000, 18000), (27000, 27000)]
