"""Video I/O on PyAV: probe, streaming decode to RGB, streaming encode with audio/subtitle remux, resumable
segmented encode (``SegmentedWriter``).

Nothing outside this package knows about containers or codecs.
"""

from core.video.errors import (
    EmptyVideoError,
    EncodeSettingsError,
    NotAVideoError,
    NoVideoStreamError,
    TruncatedVideoError,
    VideoError,
    VideoPathError,
)
from core.video.hdr import HdrMetadata
from core.video.info import ColorInfo, VideoInfo, probe
from core.video.pipeline import Sink, bounded_map, prefetch
from core.video.reader import Frame, frame_times, read_frames, read_span
from core.video.segments import SegmentedWriter, SegmentSpec
from core.video.writer import EncodeSettings, StereoSignal, VideoWriter

__all__ = [
    "ColorInfo",
    "Sink",
    "EmptyVideoError",
    "EncodeSettings",
    "EncodeSettingsError",
    "Frame",
    "HdrMetadata",
    "NoVideoStreamError",
    "NotAVideoError",
    "TruncatedVideoError",
    "VideoError",
    "VideoInfo",
    "VideoPathError",
    "VideoWriter",
    "bounded_map",
    "frame_times",
    "read_span",
    "SegmentedWriter",
    "SegmentSpec",
    "StereoSignal",
    "prefetch",
    "probe",
    "read_frames",
]
