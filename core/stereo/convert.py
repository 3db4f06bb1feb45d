"""The stereo conversion job: video + depth pass -> packed stereo video (streamed, flat memory).

Frames are matched to depth frames by timestamp, so a pass made for a trimmed range still lines up. Without a depth
pass the depth engine writes one next to the output first. Both steps resume after an interruption (Ctrl-C, kill,
crash): the engine continues its pass, and the stereo video is encoded in segments of ``segment_seconds`` kept in
``.<output name>.work/`` beside the output, so a re-run with the same command continues after the last finished
segment and yields the same file as an uninterrupted run; changed options or inputs start the video afresh.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import torch

from core.atomic import atomic_path, finished_files
from core.depth.depth_pass import DepthPass
from core.depth.job import DepthJob, ShotExecutor
from core.devices import resolve_device
from core.cli import check_window
from core.errors import DepthshotError, disk_full_reported
from core.progress import OnProgress, Stage
from core.geometry.camera import resolve_intrinsics
from core.lock import claim_output
from core.stereo.disparity import (
    DisparityConfig,
    convergence_track,
    metric_disparity,
    nearness,
    relative_disparity,
    subject_nearness,
)
from core.stereo.layouts import LAYOUT_SPECS, Packer
from core.stereo.metadata import stereo_settings
from core.stereo.warp import DEFAULT_FILL, Border, Fill, Mode, ViewSynthesizer
from core.video.reader import DAMAGED_FRACTION
from core.video import (
    EncodeSettings,
    Frame,
    SegmentedWriter,
    Sink,
    VideoInfo,
    bounded_map,
    probe,
    read_frames,
    read_span,
)

log = logging.getLogger(__name__)

_VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")
_ENCODE_QUEUE = 4  # rendered frames waiting for the encoder


@dataclass
class StereoJob:
    """Everything one conversion needs; mirrors ``python -m core.stereo``'s options.

    ``depth``: an existing depth pass (None = run ``depth_job``, the default engine when None, into
    ``default_depth_path``; its input, output, start and end are this job's). ``fov``: horizontal field of view in degrees (metric disparity, VR180); None = the
    pass's intrinsics, else the project default. ``preview_frame``/``preview``: render only that source frame index
    to a PNG instead of encoding. ``segment_seconds``: length of the independently encoded pieces an interrupted
    run resumes from (s).
    """

    input: Path | str  # a URL (live) stays text
    output: Path | None = None
    depth: Path | None = None
    layout: str = "sbs_full"
    disparity: DisparityConfig = field(default_factory=DisparityConfig)
    eyes: Mode = "both_half"
    dilate: int = 0
    border: Border = "fill"
    fill: Fill = DEFAULT_FILL
    fov: float | None = None
    vr_eye_size: int | None = None
    settings: EncodeSettings = field(default_factory=EncodeSettings)
    start: float | None = None
    end: float | None = None
    device: str = "auto"
    depth_job: DepthJob | None = None
    preview_frame: int | None = None
    preview: Path | None = None
    segment_seconds: float = 5.0
    overwrite: bool = False  # replace an existing output that this command did not make
    ignore_decode_errors: bool = False  # convert a video with many frames damaged by decode errors anyway


def default_output(input_path: Path, layout: str) -> Path:
    """``clip.mp4`` -> ``clip_3D_LRF_Full_SBS.mp4`` (the layout's player tags), next to the input."""
    suffix = input_path.suffix.lower() if input_path.suffix.lower() in _VIDEO_SUFFIXES else ".mp4"
    return input_path.with_name(f"{input_path.stem}{LAYOUT_SPECS[layout].file_tag}{suffix}")


def default_depth_path(input_path: Path, output: Path) -> Path:
    """Where the depth engine's pass goes when none is given: ``<input stem>_depth`` beside the output."""
    return output.with_name(f"{input_path.stem}_depth")


@dataclass
class StereoPlan:
    """What every segment of one conversion needs, settled once before any is rendered (picklable: a Ray task
    renders segments from it, ``core.cluster.stereo``).

    ``device``: the warp's device (resolved); ``track``: the auto-convergence per depth frame, computed once over
    the whole pass (None without auto-convergence); ``size``: the packed frame (w, h); ``fingerprint``: what the
    segments' frames depend on besides the writer's settings."""

    job: StereoJob
    info: VideoInfo
    output: Path
    depth_path: Path
    device: str
    track: np.ndarray | None
    size: tuple[int, int]
    fingerprint: dict[str, object]

    @property
    def deep(self) -> bool:
        """The source has more than 8 bits per channel (frames decoded as float32, encoded 16-bit)."""
        return self.info.bit_depth > 8

    @property
    def segment_frames(self) -> int:
        """Frames per closed segment (``job.segment_seconds`` at the source's rate)."""
        return max(1, round(self.job.segment_seconds * self.info.fps))

    def stages(self, on_progress: OnProgress | None = None) -> tuple[DepthPass, _Synthesizer, Packer]:
        """The depth pass, the per-frame synthesizer (with ``track``) and the packer."""
        return _stages(self.job, self.info, self.depth_path, torch.device(self.device), on_progress, self.track)

    def frames(self) -> Iterator[Frame]:
        """The source frames of the job's window as the stages take them."""
        job = self.job
        return read_frames(job.input, start=job.start, end=job.end, **self._read_options())

    def span(self, times: list[float], before: float | None, after: float | None) -> Iterator[Frame]:
        """The source frames at ``times`` (consecutive frames of the window; ``before``/``after``: the pts of the
        frames either side, None at the window's ends), decoded after a seek (``read_span``)."""
        job = self.job
        return read_span(job.input, times, before, after, start=job.start, end=job.end, **self._read_options())

    def _read_options(self) -> dict[str, object]:
        return {"dtype": "float32" if self.deep else "uint8",
                "max_damaged": None if self.job.ignore_decode_errors else DAMAGED_FRACTION}


def plan_stereo(job: StereoJob, on_progress: OnProgress | None = None, device: str | None = None,
                depth_executor: ShotExecutor | None = None) -> tuple[StereoPlan, tuple[DepthPass, _Synthesizer, Packer]]:
    """Check ``job``, make its depth pass when it has none (``depth_executor``: where its shots run, as in
    ``run_depth``) and settle what the whole shot decides (auto-convergence); the plan and this process's stages.

    ``device``: the warp's (default ``job.device`` resolved here)."""
    info = probe(job.input)
    check_window(job.start, job.end, info.duration)
    output = job.output or default_output(job.input, job.layout)
    if job.preview_frame is None and output.suffix.lower() not in _VIDEO_SUFFIXES:
        raise DepthshotError(f"{output}: output must be .mp4, .mkv or .mov")
    if job.preview_frame is None:
        job.settings.check_container(output)  # before the depth engine runs
    device = device or str(_device(job.device))
    depth_path = job.depth or _make_depth(job, default_depth_path(job.input, output), device, depth_executor,
                                          on_progress)
    here = device if torch.device(device).type != "cuda" or torch.cuda.is_available() else "cpu"  # a Ray driver
    stages = dp, synth, packer = _stages(job, info, depth_path, torch.device(here), on_progress)
    fingerprint = _fingerprint(job, dp, torch.device(device))
    return StereoPlan(job, info, output, depth_path, device, synth.track, packer.size, fingerprint), stages


@contextmanager
def open_writer(plan: StereoPlan) -> Iterator[SegmentedWriter]:
    """The output claimed (lock), disk space watched and the resumable ``SegmentedWriter`` of ``plan`` opened; the
    video is joined (audio and subtitles remuxed) when the block ends without an exception."""
    job, info, output = plan.job, plan.info, plan.output
    w, h = plan.size
    settings = stereo_settings(job.layout, job.settings, output.suffix, plan.size, info.bit_depth)
    total = _expected_frames(info, job.start, job.end)
    segment_frames = plan.segment_frames
    lock, work = output.with_name(f".{output.name}.lock"), output.with_name(f".{output.name}.work")

    def needed() -> int:  # the join copies the segments; frames not encoded yet at the segments' bytes/frame
        done = sum(p.stat().st_size for p in finished_files(work)) if work.is_dir() else 0
        frames = sum(1 for _ in finished_files(work, "segment_*")) * segment_frames
        per_frame = done / frames if frames else w * h * 0.2
        return int(done + per_frame * max(0, (total or 0) - frames) * 2)

    with claim_output(output, lock, created=[work]), disk_full_reported(output.parent, needed), \
            SegmentedWriter(output, w, h, info.rate, settings, source=job.input, start=job.start, end=job.end,
                            segment_frames=segment_frames, overwrite=job.overwrite,
                            fingerprint=plan.fingerprint) as writer:
        yield writer


def render_segment(synth: _Synthesizer, packer: Packer, deep: bool,
                   frames: Iterable[Frame]) -> Iterator[tuple[np.ndarray, float]]:
    """Render one segment: each of ``frames`` (in order) warped and packed, as the encoder takes it: ``(image,
    pts)``, (H, W, 3) uint8 (uint16 when ``deep``) shown at pts (s). A temporal fill starts afresh at the segment's
    first frame, so a segment comes out the same whichever process renders it."""
    for n, (frame, disparity) in enumerate(bounded_map(synth.prepare, frames)):  # depth and disparity run ahead
        yield _to_output(synth.render(frame, disparity, packer, n == 0), deep), frame.pts


def run_stereo(job: StereoJob, on_progress: OnProgress | None = None) -> Path:
    """Convert ``job.input`` to stereo; returns the written video (or preview PNG).

    ``on_progress(stage, done, total)`` hears of the stages "scan" and "depth" (when it makes the depth pass),
    "auto-convergence" and "stereo" (frames).

    The output's folder is created if missing. Re-running the same job after an interruption resumes the depth
    engine's pass and then the encode after its last finished segment (see the module docstring).
    """
    plan, (_, synth, packer) = plan_stereo(job, on_progress)
    frames = plan.frames()
    if job.preview_frame is not None:
        return _write_preview(job, frames, synth, packer)
    with open_writer(plan) as writer:
        if writer.complete:
            return plan.output
        total = _expected_frames(plan.info, job.start, job.end)
        with Sink(writer.write, maxsize=_ENCODE_QUEUE) as encode:  # x264 encodes while the next frames are warped
            todo = islice(frames, writer.resume_point, None)  # frames already encoded are decoded, not synthesized
            with Stage(on_progress, "stereo", total, done=writer.resume_point) as stage:
                while True:
                    n = 0
                    for n, (image, pts) in enumerate(
                            render_segment(synth, packer, plan.deep, islice(todo, plan.segment_frames)), start=1):
                        encode.put(image, pts)
                        stage.update()
                    if n == 0:
                        break
    return plan.output


class _Synthesizer:
    """Per-frame work: depth lookup and disparity (``prepare``, runs ahead in a thread), warp and pack."""

    def __init__(
        self, job: StereoJob, dp: DepthPass, width: int, fx: float, device: torch.device,
        on_progress: OnProgress | None = None, track: np.ndarray | None = None,
    ) -> None:
        """``track``: the auto-convergence already computed (else computed here when the job asks for it)."""
        self.job, self.dp, self.width, self.fx, self.device = job, dp, width, fx, device
        self.track = track
        if job.disparity.auto_convergence and track is None:
            self.track = _auto_convergence(dp, job.disparity.smoothing_s, on_progress)
        self.views = ViewSynthesizer(job.eyes, job.fill, border=job.border, dilate=job.dilate)
        self.shot: int | None = None

    def depth_index(self, pts: float) -> int:
        j = self.dp.index_at(pts)
        if j is None:
            raise DepthshotError(f"the depth pass has no frame at t={pts:.3f}s (was it made from another clip/range?)")
        return j

    def prepare(self, frame: Frame) -> tuple[Frame, np.ndarray]:
        j = self.depth_index(frame.pts)
        raw, shot = self.dp.read(j), self.dp.shot_of(j)
        h, w = frame.image.shape[:2]
        if raw.shape != (h, w):
            raw = cv2.resize(raw, (w, h), interpolation=cv2.INTER_LINEAR)
        cfg = self.job.disparity
        conv = cfg.convergence if self.track is None else float(self.track[j])
        if cfg.mode == "metric":
            return frame, metric_disparity(raw, shot, cfg, self.fx, conv)
        return frame, relative_disparity(nearness(raw, shot, self.dp.info.kind), cfg, self.width, conv)

    def render(self, frame: Frame, disparity: np.ndarray, packer: Packer, restart: bool = True) -> torch.Tensor:
        """Both eyes of ``frame`` packed; frames come in order, ``restart`` drops the temporal fill's history
        (it is dropped at every cut of the depth pass too)."""
        img = torch.from_numpy(frame.image).to(self.device).permute(2, 0, 1)
        img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
        shot = self.dp.shot_of(self.depth_index(frame.pts)).start
        new_shot = restart or shot != self.shot
        self.shot = shot
        left, right = self.views(img, torch.from_numpy(disparity).to(self.device), new_shot=new_shot)
        return packer(left, right)


def _stages(job: StereoJob, info: VideoInfo, depth_path: Path, device: torch.device,
            on_progress: OnProgress | None = None,
            track: np.ndarray | None = None) -> tuple[DepthPass, _Synthesizer, Packer]:
    """The depth pass (checked against the video), the per-frame synthesizer (``track``: its auto-convergence
    when already computed) and the packer of ``job`` (also what ``core.bench pipeline`` times stage by stage)."""
    dp = DepthPass.open(depth_path)
    _check_pass(dp, info, job.start, job.end)
    k = resolve_intrinsics(
        info.width,
        info.height,
        fov_deg=job.fov,
        known=dp.info.intrinsics,
        known_size=(dp.info.width, dp.info.height),
    )
    if job.disparity.mode == "metric" and dp.info.kind != "metric_depth":
        raise DepthshotError(f"{depth_path}: metric disparity needs a metric depth pass, this one is {dp.info.kind}")
    packer = Packer(
        job.layout, info.width, info.height, hfov_deg=k.hfov_deg, eye_size=job.vr_eye_size, device=device
    )
    synth = _Synthesizer(job, dp, info.width, k.fx, device, on_progress, track)
    return dp, synth, packer


def _auto_convergence(dp: DepthPass, smoothing_s: float, on_progress: OnProgress | None) -> np.ndarray:
    """Convergence per depth frame following the subject (one extra read of the pass)."""
    subject = []
    with Stage(on_progress, "auto-convergence", len(dp)) as stage:
        for i, raw in dp.frames():
            subject.append(subject_nearness(nearness(raw, dp.shot_of(i), dp.info.kind)))
            stage.update()
    return convergence_track(subject, dp.info.timestamps, [s.start for s in dp.info.shots], smoothing_s)


def _make_depth(job: StereoJob, path: Path, device: str, executor: ShotExecutor | None = None,
                on_progress: OnProgress | None = None) -> Path:
    """Run the depth engine into ``path`` on ``device`` unless the job names one (resumes a pass left unfinished
    there, reuses a finished one; ``executor``: where its shots run, as in ``run_depth``). ``on_progress`` hears
    the depth job's stages ("scan", "depth"; its "done" is left out: the stereo job goes on)."""
    from core.depth.job import Progress, ensure_pass

    def depth_progress(p: Progress) -> None:
        if on_progress is not None and p.stage != "done":
            on_progress(p.stage, p.frames_done, p.frame_count or None)

    base = job.depth_job or DepthJob(input=job.input, output=path)
    device = base.device or device
    depth_job = replace(base, input=job.input, output=path, device=device, start=job.start, end=job.end,
                        ignore_decode_errors=job.ignore_decode_errors)
    log.info("running the depth engine (%s) into %s", depth_job.engine, path)
    return ensure_pass(job.input, depth_job, depth_progress, executor=executor).root


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DepthshotError(f"{folder}: cannot create the output folder ({exc.strerror})") from None


def _fingerprint(job: StereoJob, dp: DepthPass, device: torch.device) -> dict[str, object]:
    """What decides the stereo frames besides the writer's own settings: the options and the depth pass."""
    options = asdict(job)
    for name in ("output", "preview", "preview_frame", "device", "depth_job", "depth", "overwrite",
                 "ignore_decode_errors"):
        options.pop(name)
    manifest = (dp.root / "depth_pass.json").read_bytes()
    return {"options": options, "device": device.type, "depth_pass": hashlib.sha256(manifest).hexdigest()}


def _check_pass(dp: DepthPass, info: VideoInfo, start: float | None, end: float | None) -> None:
    """Refuse, before anything is written, a pass that cannot belong to this video and window: another aspect
    ratio, another frame rate, or frames that do not span ``[start, end)``."""
    a_video, a_pass = info.width / info.height, dp.info.width / dp.info.height
    if abs(a_video / a_pass - 1) > 0.02:
        raise DepthshotError(
            f"the depth pass is {dp.info.width}x{dp.info.height} but the video is {info.width}x{info.height} "
            "(different aspect ratio: was it made from another clip?)"
        )
    if abs(dp.info.fps / info.fps - 1) > 0.01:
        raise DepthshotError(f"the depth pass is at {dp.info.fps:g} fps but the video at {info.fps:g} fps "
                             "(was it made from another clip?)")
    period = 1.0 / info.fps
    first, last = dp.info.timestamps[0], dp.info.timestamps[-1]
    want_first, want_last = start or 0.0, min(end if end is not None else info.duration, info.duration) - period
    if first > want_first + 1.5 * period or last < want_last - 1.5 * period:
        raise DepthshotError(
            f"the depth pass covers {first:.3f}s..{last:.3f}s but the video (window) runs "
            f"{want_first:.3f}s..{max(want_first, want_last):.3f}s (was it made from another clip or range?)"
        )


def _expected_frames(info: VideoInfo, start: float | None, end: float | None) -> int | None:
    if start is None and end is None:
        return info.frame_count or None
    span = (end if end is not None else info.duration) - (start or 0.0)
    return max(0, round(span * info.fps))


def _to_output(packed: torch.Tensor, deep: bool) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8, or uint16 for sources deeper than 8 bits."""
    scale = 65535.0 if deep else 255.0
    out = (packed.clamp(0, 1) * scale).round().permute(1, 2, 0).cpu().numpy()
    return out.astype(np.uint16 if deep else np.uint8)


def _write_preview(job: StereoJob, frames: Iterator[Frame], synth: _Synthesizer, packer: Packer) -> Path:
    tag = LAYOUT_SPECS[job.layout].file_tag
    target = job.preview or job.input.with_name(f"{job.input.stem}{tag}_{job.preview_frame}.png")
    _make_folder(target.parent)
    for frame in frames:
        if frame.index == job.preview_frame:
            rgb = _to_output(synth.render(*synth.prepare(frame), packer), deep=False)
            with atomic_path(target) as tmp:
                if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
                    raise DepthshotError(f"{target}: cannot write the preview PNG")
            return target
        if frame.index > job.preview_frame:
            break
    raise DepthshotError(f"frame {job.preview_frame} is not in the input (or outside --start/--end)")


def _device(name: str) -> torch.device:
    return torch.device(resolve_device(name))
