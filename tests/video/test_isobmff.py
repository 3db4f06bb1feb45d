"""The ISO-BMFF box reader/rewriter: boxes written into a finished MP4 parse back and the file still decodes."""

import numpy as np
import pytest

from core.errors import DepthshotError
from core.video import EncodeSettings, StereoSignal, VideoWriter, read_frames
from core.video.isobmff import ST3D_LEFT_RIGHT, add_sample_entry_boxes, read_boxes, spherical_metadata, st3d_box
from tests import media_tools as mt


def _write(path, settings, frames=4):
    with VideoWriter(path, 64, 32, 30, settings) as w:
        for i in range(frames):
            w.write(np.full((32, 64, 3), 40 * i, np.uint8))
    return path


@pytest.mark.parametrize("faststart", [False, True])
def test_vr180_boxes_parse_back_and_the_file_still_decodes(tmp_path, faststart):
    settings = EncodeSettings(preset="ultrafast", container_options={"movflags": "+faststart"} if faststart else {},
                              stereo=StereoSignal(st3d=ST3D_LEFT_RIGHT, spherical=True))
    path = _write(tmp_path / "vr.mp4", settings, frames=5)
    order = [b.type for b in read_boxes(path).children]
    assert (order.index("moov") < order.index("mdat")) == faststart
    meta = spherical_metadata(path)
    assert meta == {"stereo_mode": ST3D_LEFT_RIGHT, "bounds": (0, 0, 0x40000000, 0x40000000)}
    assert read_boxes(path).find("moov/trak/mdia/minf/stbl/stsd/avc1/sv3d/svhd") is not None
    means = [float(f.image.mean()) for f in read_frames(path)]
    assert np.allclose(means, [0, 40, 80, 120, 160], atol=2)  # chunk offsets still point at the right samples
    video = [s for s in mt.streams(path) if s["codec_type"] == "video"][0]
    kinds = {d["side_data_type"] for d in video.get("side_data_list", [])}
    assert {"Stereo 3D", "Spherical Mapping"} <= kinds


def test_no_boxes_without_a_signal(tmp_path):
    assert spherical_metadata(_write(tmp_path / "a.mp4", EncodeSettings(preset="ultrafast"))) is None
    entry = read_boxes(tmp_path / "a.mp4").find("moov/trak/mdia/minf/stbl/stsd/avc1")
    assert entry is not None and entry.find("st3d") is None


def test_not_an_mp4_is_refused(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x10moovxx")
    with pytest.raises(DepthshotError):
        add_sample_entry_boxes(bad, [st3d_box(2)])
