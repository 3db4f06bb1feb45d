import av
import numpy as np
import pytest

from core.errors import DepthshotError
from core.stereo.metadata import (
    ST3D_LEFT_RIGHT,
    TAGS,
    add_spherical_boxes,
    read_boxes,
    spherical_metadata,
    spherical_post_process,
    stereo_settings,
)
from core.video import EncodeSettings, VideoWriter, read_frames

AV_STEREO3D_SIDEBYSIDE, AV_STEREO3D_TOPBOTTOM = 1, 2


def _write(path, layout, settings=None, frames=4):
    settings = stereo_settings(layout, settings or EncodeSettings(preset="ultrafast"), path.suffix)
    with VideoWriter(path, 64, 32, 30, settings, post_process=spherical_post_process(layout, path.suffix)) as w:
        for i in range(frames):
            w.write(np.full((32, 64, 3), 40 * i, np.uint8))
    return path


def _frame_packing(path):
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        sd = [s for s in frame.side_data if s.type == av.sidedata.sidedata.Type.STEREO3D]
        return int.from_bytes(bytes(sd[0])[:4], "little") if sd else None


@pytest.mark.parametrize("layout, expected", [("sbs_half", AV_STEREO3D_SIDEBYSIDE), ("tb_full", AV_STEREO3D_TOPBOTTOM),
                                              ("anaglyph", None)])
def test_h264_frame_packing_sei(tmp_path, layout, expected):
    assert _frame_packing(_write(tmp_path / "a.mp4", layout)) == expected


def test_user_x264_params_are_kept():
    s = stereo_settings("sbs_full", EncodeSettings(codec_options={"x264-params": "keyint=30"}), ".mp4")
    assert s.codec_options["x264-params"] == "keyint=30:frame-packing=3"


@pytest.mark.parametrize("layout", ["sbs_full", "tb_half", "cross", "anaglyph"])
def test_matroska_stereo_mode(tmp_path, layout):
    path = _write(tmp_path / "a.mkv", layout)
    with av.open(str(path)) as c:
        assert c.streams.video[0].metadata["stereo_mode"] == TAGS[layout].matroska


@pytest.mark.parametrize("faststart", [False, True])
def test_vr180_mp4_boxes_parse_back_and_the_file_still_decodes(tmp_path, faststart):
    settings = EncodeSettings(preset="ultrafast", container_options={"movflags": "+faststart"} if faststart else {})
    path = _write(tmp_path / "vr.mp4", "vr180", settings, frames=5)
    order = [b.type for b in read_boxes(path).children]
    assert (order.index("moov") < order.index("mdat")) == faststart
    meta = spherical_metadata(path)
    assert meta == {"stereo_mode": ST3D_LEFT_RIGHT, "bounds": (0, 0, 0x40000000, 0x40000000)}
    assert read_boxes(path).find("moov/trak/mdia/minf/stbl/stsd/avc1/sv3d/svhd") is not None
    means = [float(f.image.mean()) for f in read_frames(path)]
    assert np.allclose(means, [0, 40, 80, 120, 160], atol=2)  # chunk offsets still point at the right samples


def test_no_spherical_boxes_outside_vr180_or_mp4(tmp_path):
    assert spherical_post_process("sbs_full", ".mp4") is None
    assert spherical_post_process("vr180", ".mkv") is None
    assert spherical_metadata(_write(tmp_path / "a.mp4", "sbs_full")) is None


def test_not_an_mp4_is_refused(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x10moovxx")
    with pytest.raises(DepthshotError):
        add_spherical_boxes(bad, stereo_mode=2, half_sphere=True)
