"""``SegmentedWriter``: a resumable ``VideoWriter`` that encodes in closed segments and joins them losslessly.

The video is encoded in segments of ``segment_frames`` frames, each a separate encode (so it starts with a key
frame and no frame refers across a boundary), into a work folder beside the output::

    out/.film.mp4.work/job.json            fingerprint of the job + the finished segments (rewritten atomically)
    out/.film.mp4.work/segment_00000.mov   one finished segment (.mkv for H.265 and FFV1)

A segment is listed in ``job.json`` only after its file has been renamed into place and synced, so after a crash
(Ctrl-C, ``kill -9``, power loss) ``resume_point`` frames are safe and the caller feeds frames from there on. A
different fingerprint (other options, another source) discards the work folder and starts afresh.

Segments may also be encoded elsewhere and in any order (``core.cluster.stereo``: one Ray task per segment):
``spec`` (``SegmentSpec``, picklable) opens segment ``k``'s encoder and finishes it, and ``record(k, meta)`` lists
it; ``finished`` says which are listed. The join needs segments ``0 .. n-1``.
``close()`` stream-copies the segments' video packets (no re-encode; in-band codec SEI such as x264's frame
packing comes along) into the final container with the source's audio/subtitles (``Remuxer``), runs
``post_process`` and renames the file into place, then deletes the work folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from core.atomic import fsync_file, sweep_partials, temp_path, write_text
from core.video.errors import EmptyVideoError, VideoError, VideoPathError
from core.video.remux import Remuxer
from core.video.h264 import right_first
from core.video.info import probe
from core.video.isobmff import add_sample_entry_boxes, signal_boxes
from core.video.matroska import set_display_size
from core.video.writer import (
    CONTAINER_CODECS,
    MP4_SUFFIXES,
    TIME_BASE,
    EncodeSettings,
    VideoWriter,
    _OutputFile,
    _as_rate,
    _check_size,
    check_output_path,
    hdr_to_carry,
    output_color,
)

log = logging.getLogger(__name__)

_STATE_VERSION = 1


@dataclass(frozen=True)
class SegmentSpec:
    """How every segment of one ``SegmentedWriter`` is encoded (picklable: a worker encodes segment ``k`` with it).

    ``settings`` are resolved; ``start`` (s) is the source time of output time 0 (the writer's window start)."""

    work_dir: Path
    width: int
    height: int
    rate: Fraction
    settings: EncodeSettings
    source: Path | None
    copy_color: bool
    start: float | None

    def path(self, k: int) -> Path:
        """The file of segment ``k``."""
        # MOV keeps the exact 1/90000 times; Matroska (1 ms) takes FFV1, which MOV cannot hold, and H.265,
        # whose encoder gives invalid decode times to clips under 3 frames that MOV refuses
        suffix = ".mkv" if self.settings.codec in ("ffv1", "h265") else ".mov"
        return self.work_dir / f"segment_{k:05d}{suffix}"

    def open(self, k: int) -> VideoWriter:
        """An opened encoder writing segment ``k`` (frames as ``VideoWriter.write``, on the source timeline)."""
        segment = VideoWriter(
            self.path(k),
            self.width,
            self.height,
            self.rate,
            replace(self.settings, stream_metadata={}, container_options={}),
            source=self.source,
            copy_audio=False,
            copy_subtitles=False,
            copy_color=self.copy_color,
            copy_chapters=False,
            start=self.start,
        )
        segment.open()
        return segment

    def finish(self, segment: VideoWriter, last_pts: float) -> dict[str, Any]:
        """Close ``segment`` (renamed into place and synced); its record for ``SegmentedWriter.record``:
        ``{"frames", "last_pts" (s), "reorder"}``."""
        segment.close()
        fsync_file(segment.path)
        return {"frames": segment.frames_written, "last_pts": last_pts, "reorder": _reorder_depth(segment.path)}


class SegmentedWriter(_OutputFile):
    """Write frames to ``path`` like ``VideoWriter`` (same arguments and timeline), resumably.

    ``segment_frames``: frames per segment (e.g. 2-10 s of video: a crash loses at most one segment).
    ``fingerprint``: JSON-able description of everything else that decides the frames (the caller's options);
    a work folder made with another fingerprint is discarded. After ``open()`` (or entering the with-block)
    ``resume_point`` is the number of frames already encoded: the caller skips that many frames and writes
    the rest. Leaving the with-block by an exception keeps the finished segments for the next run::

        with SegmentedWriter("out.mp4", w, h, info.rate, source="in.mp4", fingerprint=opts) as out:
            for f in itertools.islice(read_frames("in.mp4"), out.resume_point, None):
                out.write(f.image, f.pts)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        fps: float | Fraction,
        settings: EncodeSettings | None = None,
        *,
        source: str | os.PathLike[str] | None = None,
        copy_audio: bool = True,
        copy_subtitles: bool = True,
        copy_color: bool = True,
        start: float | None = None,
        end: float | None = None,
        post_process: Callable[[Path], None] | None = None,
        segment_frames: int = 150,
        fingerprint: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        if segment_frames < 1:
            raise ValueError(f"segment_frames must be >= 1, got {segment_frames}")
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.rate = _as_rate(fps)
        self.source = Path(source) if source is not None else None
        self._source_info = probe(self.source) if self.source is not None else None
        depth = self._source_info.bit_depth if self._source_info is not None else 8
        self.settings = (settings or EncodeSettings()).resolved(depth)
        self.start, self.end = start, end
        self.segment_frames = segment_frames
        self.work_dir = self.path.with_name(f".{self.path.name}.work")
        self.temp_path = temp_path(self.path)
        self._copy = (copy_audio, copy_subtitles, copy_color)
        self._post_process = post_process
        self._fingerprint = _jsonable(
            {
                "writer": {
                    "size": [self.width, self.height],
                    "rate": str(self.rate),
                    "settings": asdict(self.settings),
                    "source": _file_identity(self.source),
                    "window": [start, end],
                    "copy": list(self._copy),
                    "segment_frames": segment_frames,
                },
                "job": dict(fingerprint or {}),
            }
        )
        self._record = "depthshot job " + hashlib.sha256(json.dumps(self._fingerprint).encode()).hexdigest()[:32]
        self.overwrite = overwrite
        self.complete = False  # ``path`` already holds this job's finished video: nothing to write
        self.spec = SegmentSpec(self.work_dir, self.width, self.height, self.rate, self.settings, self.source,
                                copy_color, start)
        self._segments: dict[int, dict[str, Any]] = {}  # {"frames", "last_pts" (s), "reorder"} per finished segment
        self._next = 0  # the segment ``write`` fills
        self._segment: VideoWriter | None = None
        self._hdr = None  # the source's HDR10 metadata the output carries (set by open())
        self._last_pts: float | None = None
        self.resume_point = 0
        self.frames_written = 0

    def open(self) -> None:
        """Check the paths and settings, then take up the work folder's finished segments (or start one).

        An existing ``path`` is replaced only when this writer made it (its job record, a container tag, says
        so) or with ``overwrite``; when it holds the finished video of this very job, ``complete`` is set and
        nothing is written."""
        check_output_path(self.path, self.source)
        self.settings.check_container(self.path)
        _, pix_fmt = self.settings.encoder()
        _check_size(self.path, self.width, self.height, pix_fmt)
        source = self._source_info if self._copy[2] else None
        self._hdr = hdr_to_carry(self.path, source, output_color(pix_fmt, source), pix_fmt)
        if self.path.exists():
            record = _job_record(self.path)
            if record == self._record:
                log.info("%s already holds this job's finished video", self.path)
                self.complete = True
                shutil.rmtree(self.work_dir, ignore_errors=True)  # a finishing run killed before it removed it
                return
            if not self.overwrite and not (record or "").startswith("depthshot job "):
                raise VideoPathError(f"{self.path}: exists and was not made by depthshot (--overwrite replaces it)")
        state = self._load_state()
        if state is not None and state["fingerprint"] == self._fingerprint:
            for n, segment in enumerate(state["segments"]):
                k = int(segment.pop("index", n))  # listed without an index: in order
                if self.spec.path(k).is_file():
                    self._segments[k] = segment
        elif self.work_dir.exists():
            log.info("%s: options or inputs changed since the interrupted run; starting afresh", self.path)
            shutil.rmtree(self.work_dir)
        try:
            self.work_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise VideoPathError(f"{self.work_dir}: cannot create the work folder ({exc.strerror})") from None
        sweep_partials(self.work_dir)  # a segment cut short by a crash
        sweep_partials(self.path.parent, stems=(self.path.stem,))  # a join cut short
        self._save_state()
        while self._next in self._segments:  # ``write`` continues after the finished segments that run from 0
            self._next += 1
        prefix = [self._segments[k] for k in range(self._next)]
        self.resume_point = self.frames_written = sum(s["frames"] for s in prefix)
        self._last_pts = prefix[-1]["last_pts"] if prefix else None
        if self.resume_point:
            log.info("%s: resuming after %d frames (%d segments)", self.path, self.resume_point, len(self._segments))

    def write(self, image: np.ndarray, pts: float | None = None) -> None:
        """Encode one ``(H, W, 3)`` RGB frame (uint8/uint16) shown at ``pts`` (s, source timeline), as
        ``VideoWriter.write``; ``None`` places it one nominal frame period after the previous one."""
        if pts is None:
            pts = (self.start or 0.0) + float(self.frames_written / self.rate)
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"frame time {pts}s is not after the previous frame ({self._last_pts}s)")
        if self._segment is None:
            self._segment = self.spec.open(self._next)
        self._segment.write(image, pts)
        self._last_pts = pts
        self.frames_written += 1
        if self._segment.frames_written == self.segment_frames:
            self._finish_segment()

    @property
    def finished(self) -> dict[int, dict[str, Any]]:
        """The listed segments: index -> record (``SegmentSpec.finish``)."""
        return dict(self._segments)

    def record(self, k: int, meta: dict[str, Any]) -> None:
        """List segment ``k``, finished elsewhere by ``spec.open(k)`` and ``spec.finish`` (any order)."""
        self._segments[k] = dict(meta)
        self.frames_written = sum(s["frames"] for s in self._segments.values())
        self._save_state()

    def close(self) -> None:
        """Finish the last segment, join all segments into ``path`` and delete the work folder."""
        if self.complete:
            return
        try:
            if self._segment is not None:
                self._finish_segment()
            if not self._segments:
                raise EmptyVideoError(f"{self.path}: no frames were written")
            missing = next((k for k in range(len(self._segments)) if k not in self._segments), None)
            if missing is not None:
                raise VideoError(f"{self.path}: segment {missing} of {max(self._segments) + 1} is missing")
            self._join()
            boxes = signal_boxes(self.settings.stereo, self._hdr) if self.path.suffix.lower() in MP4_SUFFIXES else []
            if boxes:
                add_sample_entry_boxes(self.temp_path, boxes)
            eye = self.settings.stereo.eye_display if self.settings.stereo is not None else None
            if eye is not None and self.path.suffix.lower() in (".mkv", ".webm"):
                set_display_size(self.temp_path, *eye)
            if self._post_process is not None:
                self._post_process(self.temp_path)
            os.replace(self.temp_path, self.path)
        except BaseException:
            self.abort()
            raise
        shutil.rmtree(self.work_dir, ignore_errors=True)
        log.info("wrote %s (%d frames, %d segments)", self.path, self.frames_written, len(self._segments))

    def abort(self) -> None:
        """Stop writing: drop the unfinished segment and any partial output, keep the finished segments."""
        if self._segment is not None:
            self._segment.abort()
            self._segment = None
        self.temp_path.unlink(missing_ok=True)

    def _finish_segment(self) -> None:
        segment, self._segment = self._segment, None
        self._segments[self._next] = self.spec.finish(segment, self._last_pts)
        self._next += 1
        self._save_state()

    def _join(self) -> None:
        """Stream-copy the segments' video packets, interleaved with the source's audio/subtitles, into the
        temporary output."""
        paths = [self.spec.path(k) for k in range(len(self._segments))]
        try:
            output = av.open(str(self.temp_path), mode="w", options=self.settings.container_options)
        except (av.error.FFmpegError, ValueError) as exc:
            raise VideoPathError(f"{self.path}: cannot write this file type ({exc})") from None
        output.metadata["comment"] = self._record  # how a later run recognises its own finished output
        remux = None
        try:
            with av.open(str(self._template(paths[0]))) as first:
                template = first.streams.video[0]
                extradata = template.codec_context.extradata
                stream = output.add_stream_from_template(template)
            stream.time_base = TIME_BASE
            stream.codec_context.framerate = self.rate
            stream.metadata.update(self.settings.stream_metadata)
            mp4 = self.path.suffix.lower() in MP4_SUFFIXES
            if mp4 and self.settings.codec == "h265":
                stream.codec_context.codec_tag = "hvc1"  # Apple players refuse hev1
            stream.disposition = stream.disposition | av.stream.Disposition.default
            if self.source is not None:
                remux = Remuxer(
                    self.source, output, audio=self._copy[0], subtitles=self._copy[1], start=self.start, end=self.end,
                    video=stream,
                )
            length_size = None  # set when x264's frame-packing SEI is to say "right view first"
            if self.settings.codec == "h264" and self.settings.stereo is not None and self.settings.stereo.right_first:
                if extradata and extradata[0] == 1:  # avcC: NAL units carry (lengthSizeMinusOne + 1)-byte lengths
                    length_size = (extradata[4] & 3) + 1
            reorder = max(s["reorder"] for s in self._segments.values())
            clock = _DecodeClock(round(1 / (self.rate * TIME_BASE)), reorder)
            for path in paths:
                with av.open(str(path)) as segment:
                    video = segment.streams.video[0]
                    if video.codec_context.extradata != extradata:
                        raise VideoError(f"{path}: encoded with other codec parameters than the first segment")
                    packets = [p for p in segment.demux(video) if p.pts is not None]  # one segment: seconds
                    pts = [_ticks(p.pts, p.time_base) for p in packets]
                    for packet, t, d in zip(packets, pts, clock.segment(pts)):
                        if length_size is not None and (patched := right_first(bytes(packet), length_size)):
                            packet.update(patched)
                        duration = _ticks(packet.duration, packet.time_base)
                        packet.time_base = TIME_BASE
                        packet.pts, packet.dts, packet.duration = t, d, duration
                        if remux is not None:
                            remux.feed_until(float(d * TIME_BASE))
                        packet.stream = stream
                        output.mux(packet)
            if remux is not None:
                remux.finish()
        finally:
            if remux is not None:
                remux.close()
            output.close()

    def _template(self, segment: Path) -> Path:
        """The file whose video stream the joined output copies its parameters from: the first segment, or, for
        Matroska with stereo/VR180/HDR signalling, a one-frame MP4 of it with the st3d/sv3d/mdcv/clli boxes, which
        FFmpeg reads as side data that the Matroska muxer writes as StereoMode, Projection and MasteringMetadata."""
        boxes = signal_boxes(self.settings.stereo, self._hdr)
        if not boxes or self.path.suffix.lower() in MP4_SUFFIXES or self.settings.codec not in CONTAINER_CODECS[".mp4"]:
            return segment
        path = self.work_dir / "template.mp4"
        with av.open(str(segment)) as src, av.open(str(path), mode="w", format="mp4") as out:
            video = src.streams.video[0]
            stream = out.add_stream_from_template(video)
            for packet in src.demux(video):
                if packet.pts is not None and packet.is_keyframe:
                    packet.dts = packet.pts
                    packet.stream = stream
                    out.mux(packet)
                    break
        add_sample_entry_boxes(path, boxes)
        return path

    def _load_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads((self.work_dir / "job.json").read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            return None
        return state

    def _save_state(self) -> None:
        segments = [{"index": k, **self._segments[k]} for k in sorted(self._segments)]
        state = {"version": _STATE_VERSION, "fingerprint": self._fingerprint, "segments": segments}
        write_text(self.work_dir / "job.json", json.dumps(state, indent=1))


class _DecodeClock:
    """Decode times for the joined stream, as one encode with a constant reordering delay would give them.

    Each segment was encoded alone, so its decode times follow its own delay (a short last segment may have
    none); joined as they are, the decode clock would jump. Instead packet ``j`` (in decode order over the whole
    stream) gets the ``j - delay``-th presentation time, ``delay`` (frames) being the largest reordering of any
    segment; the first ``delay`` packets get times one ``period`` (ticks) apart before the first frame.
    """

    def __init__(self, period: int, delay: int) -> None:
        self.period, self.delay = period, delay
        self.count = 0  # packets so far
        self.first: int | None = None  # the stream's first presentation time
        self.recent: list[int] = []  # the last ``delay`` presentation times, in order

    def segment(self, pts: list[int]) -> list[int]:
        """The decode times (ticks) of one segment's packets, given their ``pts`` (decode order, ticks)."""
        times = self.recent + sorted(pts)
        if self.first is None:
            self.first = times[0]
        out = []
        for i in range(len(pts)):
            j = len(self.recent) + i - self.delay
            out.append(times[j] if j >= 0 else self.first - (self.delay - self.count - i) * self.period)
        self.count += len(pts)
        self.recent = times[len(times) - self.delay :] if self.delay else []
        return out


def _job_record(path: Path) -> str | None:
    """The job record (``comment`` tag) of the video at ``path``, None when it has none or is not a video."""
    try:
        with av.open(str(path)) as container:
            return next((v for k, v in container.metadata.items() if k.lower() == "comment"), None)
    except (av.error.FFmpegError, OSError, ValueError):
        return None


def _reorder_depth(path: Path) -> int:
    """How many frames the video of ``path`` is decoded ahead of its display (0 without B-frames)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        packets = [(p.pts, p.dts) for p in container.demux(video) if p.pts is not None]
    rank = {pts: r for r, pts in enumerate(sorted(pts for pts, _ in packets))}
    first = min(rank)
    ahead = max(i - rank[pts] for i, (pts, _) in enumerate(packets))
    return max(ahead, sum(dts is not None and dts < first for _, dts in packets))


def _ticks(value: int, time_base: Fraction) -> int:
    """``value`` in ``time_base`` units as ``TIME_BASE`` ticks."""
    return round(value * time_base / TIME_BASE)


def _file_identity(path: Path | None) -> list[Any] | None:
    """``[resolved path, size, mtime_ns]``: changes when the file is replaced or edited."""
    if path is None:
        return None
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (paths and other objects as strings), so fingerprints compare."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


