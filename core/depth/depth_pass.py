"""The depth pass: the on-disk contract between the depth engines and every consumer.

A depth pass is a folder::

    PASS/depth_pass.json        manifest (see ``PassInfo``); present only once the pass is complete
    PASS/depth/000000.png       one 16-bit greyscale PNG per frame
    PASS/mask/000000.png        per-frame validity flags, 8-bit (revision 2, only when ``mask_pattern`` is set)
    PASS/.work/                 staging area of an unfinished pass (resume state); removed by ``close()``
    PASS/.lock                  held (``core.lock``) by the one job writing the pass; gone when it ends

Each PNG stores its frame normalised over the frame's *shot*: a pixel value ``v`` (0..65535) maps back to the raw
value ``lo + v / 65535 * (hi - lo)`` with the shot's ``lo``/``hi`` from the manifest, so a value is exact to half a
quantisation step, ``(hi - lo) / 131070``. Normalising per shot (not per frame) keeps the grey levels of the image
sequence consistent through a shot, which is what Blender and video players see.

Raw values are either *relative inverse depth* (affine-invariant, larger = nearer: what relative VDA/RollingDepth
produce) or *metric depth* in metres along the optical axis (metric VDA, depth sensors); ``PassInfo.kind`` says which.
Consumers read a pass only through ``DepthPass``.

The validity mask (format revision 2) flags, per pixel, depth that was not measured or estimated reliably: bit
``FILLED`` (1) means the value was invented (hole filling), ``UNRELIABLE`` (2) that the source marked it
unreliable, ``EMPTY`` (4) that there is no value at all (a hole left unfilled; its stored value is meaningless).
0 is a measured, reliable pixel. In a pass with masks, flagged pixels do not enter a shot's ``lo``/``hi``/
percentiles, and metric values ``<= 0`` are flagged ``EMPTY``. Revision 1 passes (and engines that know no
validity) have no mask: every pixel reads as 0. Older readers ignore the new fields. Masks are written to their
final place as frames arrive (they need no shot range), so they survive a resumed job.

While a pass is being written, frames of the current shot are staged losslessly as raw ``.npy`` files in
``.work/raw/`` (float32, or float16 for float16 depth; the frame's pts follows as a second array), since the shot's
range is only known when the shot ends; the writer keeps each open shot's running min/max and percentile samples,
so a shot end reads every staged frame once, to quantise it. Finished shots are recorded in ``.work/progress.json``
(a staged frame of a recorded shot is one whose PNG is not written yet), so an interrupted job resumes at
``DepthPassWriter.resume_point()``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from core import __version__
from core.atomic import atomic_path, finished_files, sweep_partials, write_text
from core.depth.png import encode_png, write_png
from core.devices import cpu_cores
from core.errors import DepthshotError
from core.video.pipeline import Sink

log = logging.getLogger(__name__)

FORMAT_NAME = "depthshot-depth-pass"
FORMAT_VERSION = 1  # changes only when old readers could misread a pass; they refuse a newer version
FORMAT_REVISION = 2  # additive changes, which older readers safely ignore. 2: validity masks, camera poses
MANIFEST = "depth_pass.json"
FRAME_DIR = "depth"
MASK_DIR = "mask"
MASK_PATTERN = f"{MASK_DIR}/{{index:06d}}.png"
FILLED, UNRELIABLE, EMPTY = 1, 2, 4
"""Validity flag bits of a mask pixel (see the module docstring)."""
WORK_DIR = ".work"
LOCK_FILE = ".lock"
_LEVELS = 65535
_QUANTIZE_ROWS = 32  # rows quantised at a time (a 1920-wide float64 block of 480 KB)
_SAMPLES_PER_FRAME = 8192  # pixels sampled per frame for the robust percentiles ...
_SAMPLED_FRAMES = 128  # ... from at most this many frames of a shot, evenly spaced (about 1M samples)
_HELD_BYTES = 256 << 20  # staged frames kept in memory for the shot-end PNGs (so they are not read back)
_NO_SAMPLE = np.empty(0, np.float32)

Kind = Literal["relative_inverse_depth", "metric_depth"]
KINDS: tuple[str, ...] = ("relative_inverse_depth", "metric_depth")


@dataclass
class Shot:
    """A run of frames ``[start, end)`` processed as one unit, with its raw value range."""

    index: int
    start: int
    end: int
    lo: float  # raw minimum over the shot
    hi: float  # raw maximum over the shot
    p2: float  # raw 2nd percentile (robust lower bound)
    p98: float  # raw 98th percentile (robust upper bound)


@dataclass
class PassInfo:
    """The manifest of a depth pass (``depth_pass.json``)."""

    source: str  # the video the depth belongs to, relative to the pass folder ("" when there is none)
    fps: float
    width: int
    height: int
    kind: Kind
    model: dict[str, Any] = field(default_factory=dict)  # id, engine, checkpoint_sha256, input_size, precision, ...
    intrinsics: dict[str, float] | None = None  # fx, fy, cx, cy in pixels, when known
    frame_count: int = 0  # filled in by the writer
    timestamps: list[float] = field(default_factory=list)  # pts of each frame in seconds, filled in by the writer
    shots: list[Shot] = field(default_factory=list)  # filled in by the writer
    software: str = f"depthshot {__version__}"
    version: int = FORMAT_VERSION
    format: str = FORMAT_NAME
    encoding: str = "png16"
    frame_pattern: str = f"{FRAME_DIR}/{{index:06d}}.png"
    mask_pattern: str | None = None  # MASK_PATTERN when the pass carries validity masks (revision 2)
    poses: dict[str, Any] | None = None  # camera poses per frame, see core.geometry.poses
    revision: int = FORMAT_REVISION  # manifests without the field are revision 1

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PassInfo:
        data = dict(data)
        data.setdefault("revision", 1)
        data["shots"] = [Shot(**s) for s in data.get("shots", [])]
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a staged pass to be resumed (everything the caller chose, nothing the writer fills)."""
        d = self.to_json()
        for k in ("frame_count", "timestamps", "shots", "poses"):
            d.pop(k)
        return d


class DepthPass:
    """Read access to a finished depth pass."""

    def __init__(self, root: Path, info: PassInfo) -> None:
        self.root = root
        self.info = info
        self._shot_of_frame = np.empty(info.frame_count, dtype=np.int32)
        self._times = np.asarray(info.timestamps, dtype=np.float64)
        for shot in info.shots:
            self._shot_of_frame[shot.start : shot.end] = shot.index

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> DepthPass:
        """Open the pass folder ``path`` (or its ``depth_pass.json``)."""
        root = Path(path)
        if root.name == MANIFEST:
            root = root.parent
        manifest = root / MANIFEST
        if not root.is_dir():
            raise DepthshotError(f"{root}: no such depth pass folder")
        if not manifest.is_file():
            hint = " (an unfinished pass: run the depth job again to complete it)" if (root / WORK_DIR).exists() else ""
            raise DepthshotError(f"{root}: not a depth pass, {MANIFEST} is missing{hint}")
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError) as exc:
            raise DepthshotError(f"{manifest}: unreadable manifest ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise DepthshotError(f"{manifest}: not a depthshot depth pass manifest")
        if not _count(data.get("version", 0)):
            raise DepthshotError(f"{manifest}: invalid manifest: bad version {data.get('version')!r}")
        if data.get("version", 0) > FORMAT_VERSION:
            raise DepthshotError(f"{manifest}: format version {data['version']} is newer than this depthshot reads")
        try:
            info = PassInfo.from_json(data)
        except (TypeError, ValueError, AttributeError) as exc:
            raise DepthshotError(f"{manifest}: malformed manifest ({exc})") from None
        problem = manifest_problem(info)
        if problem:
            raise DepthshotError(f"{manifest}: invalid manifest: {problem}")
        dp = cls(root, info)
        missing = next((i for i in range(info.frame_count) if not dp.frame_path(i).is_file()), None)
        if missing is not None:
            raise DepthshotError(f"{dp.frame_path(missing)}: depth frame {missing} of the pass is missing")
        return dp

    def __len__(self) -> int:
        return self.info.frame_count

    def source_path(self) -> Path | None:
        """The video this depth belongs to (resolved against the pass folder), or None."""
        return (self.root / self.info.source) if self.info.source else None

    def frame_path(self, i: int) -> Path:
        """The 16-bit PNG of frame ``i`` (what Blender loads as an image sequence)."""
        return self.root / self.info.frame_pattern.format(index=i)

    def shot_of(self, i: int) -> Shot:
        """The shot that frame ``i`` belongs to."""
        self._check_index(i)
        return self.info.shots[int(self._shot_of_frame[i])]

    def read(self, i: int) -> np.ndarray:
        """Raw depth of frame ``i``: float32 [H, W] (relative inverse depth, or metres for metric passes)."""
        shot = self.shot_of(i)
        path = self.frame_path(i)
        try:
            img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        except cv2.error:
            img = None
        if img is None or img.dtype != np.uint16 or img.shape != (self.info.height, self.info.width):
            raise DepthshotError(f"{path}: missing or not a {self.info.width}x{self.info.height} 16-bit depth frame")
        depth = dequantize(img, shot.lo, shot.hi)
        if not np.isfinite(depth).all():  # cannot happen with a checked manifest; a guard for what follows
            raise DepthshotError(f"{path}: depth values are not finite")
        return depth

    def mask_path(self, i: int) -> Path | None:
        """The 8-bit validity mask PNG of frame ``i``, or None for a pass without masks."""
        return self.root / self.info.mask_pattern.format(index=i) if self.info.mask_pattern else None

    def read_mask(self, i: int) -> np.ndarray:
        """Validity flags of frame ``i``: uint8 [H, W] of ``FILLED | UNRELIABLE | EMPTY`` bits (0 = measured).
        All zeros for a pass without masks."""
        self._check_index(i)
        path = self.mask_path(i)
        if path is None:
            return np.zeros((self.info.height, self.info.width), np.uint8)
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None or img.dtype != np.uint8 or img.shape != (self.info.height, self.info.width):
            raise DepthshotError(f"{path}: missing or not a {self.info.width}x{self.info.height} 8-bit mask")
        return img

    def frames(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, depth float32 [H, W])`` for frames ``start .. end-1`` in order."""
        end = self.info.frame_count if end is None else min(end, self.info.frame_count)
        for i in range(start, end):
            yield i, self.read(i)

    @property
    def time_tolerance(self) -> float:
        """How far (s) a video frame's pts may lie from a depth frame's timestamp and still be that frame: half a
        frame period (1 ms when the pass has no frame rate)."""
        return 0.5 / self.info.fps if self.info.fps > 0 else 1e-3

    def index_at(self, pts: float) -> int | None:
        """The depth frame shown at time ``pts`` (s, the source video's clock): the one with the nearest timestamp,
        if it is within ``time_tolerance``; None when no depth frame belongs to that time. This is how every
        consumer matches video frames to depth frames, so passes of a trimmed range line up."""
        times = self._times
        if len(times) == 0:
            return None
        j = int(np.searchsorted(times, pts))
        if j == len(times) or (j > 0 and abs(times[j - 1] - pts) <= abs(times[j] - pts)):
            j -= 1
        return j if abs(times[j] - pts) <= self.time_tolerance else None

    def _check_index(self, i: int) -> None:
        if not 0 <= i < self.info.frame_count:
            raise DepthshotError(f"frame {i} is outside the depth pass (0..{self.info.frame_count - 1})")


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _count(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def manifest_problem(info: PassInfo) -> str | None:
    """What makes ``info`` unusable (a NaN range, shots that do not tile the frames, ...), None when every number
    is sound: finite, positive sizes and rate, shots ``[start, end)`` covering ``0 .. frame_count`` in order with
    ``lo <= p2 <= p98 <= hi``, increasing timestamps, positive focal lengths."""
    if info.kind not in KINDS:
        return f"unknown kind {info.kind!r}"
    if info.encoding != "png16" or not isinstance(info.frame_pattern, str) or "{index" not in info.frame_pattern:
        return "unknown frame encoding or pattern"
    if not (_count(info.width) and _count(info.height) and info.width > 0 and info.height > 0):
        return f"bad frame size {info.width!r}x{info.height!r}"
    if not (_finite(info.fps) and info.fps > 0):
        return f"bad fps {info.fps!r}"
    if not (_count(info.frame_count) and info.frame_count > 0):
        return f"bad frame_count {info.frame_count!r}"
    stamps = info.timestamps
    if not isinstance(stamps, list) or len(stamps) != info.frame_count or not all(_finite(t) for t in stamps):
        return "timestamps are not one finite number per frame"
    if any(b <= a for a, b in zip(stamps, stamps[1:])):
        return "timestamps do not increase"
    end = 0
    for k, shot in enumerate(info.shots):
        if shot.index != k or not (_count(shot.start) and _count(shot.end)) or shot.start != end or shot.end <= shot.start:
            return f"shot {k} does not continue the frames in order ([{shot.start!r}, {shot.end!r}))"
        values = (shot.lo, shot.p2, shot.p98, shot.hi)
        if not all(_finite(v) for v in values):
            return f"shot {k} has a non-finite range {values}"
        slack = 1e-6 * max(1.0, abs(shot.lo), abs(shot.hi))
        if not (shot.lo <= shot.hi and shot.lo - slack <= shot.p2 <= shot.p98 + slack and shot.p98 <= shot.hi + slack):
            return f"shot {k} range is not lo <= p2 <= p98 <= hi {values}"
        if info.kind == "metric_depth" and shot.lo < 0:
            return f"shot {k} has negative metric depth ({shot.lo})"
        end = shot.end
    if end != info.frame_count:
        return f"the shots cover {end} frames, the pass has {info.frame_count}"
    k = info.intrinsics
    if k is not None:
        if not isinstance(k, dict) or not all(_finite(k.get(n)) for n in ("fx", "fy", "cx", "cy")):
            return "intrinsics need finite fx, fy, cx, cy"
        if k["fx"] <= 0 or k["fy"] <= 0:
            return "intrinsics need positive focal lengths"
    return None


def quantize(depth: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """float [H, W] raw values -> uint16 [H, W] normalised over ``[lo, hi]`` (round to nearest, in float64).
    Computed ``_QUANTIZE_ROWS`` rows at a time, so the float64 intermediate stays in the CPU cache."""
    scale = _LEVELS / (hi - lo) if hi > lo else 0.0
    out = np.empty(depth.shape, np.uint16)
    work = np.empty((min(_QUANTIZE_ROWS, len(depth)), *depth.shape[1:]), np.float64)
    for r in range(0, len(depth), _QUANTIZE_ROWS):
        rows = slice(r, r + _QUANTIZE_ROWS)
        q = work[: min(_QUANTIZE_ROWS, len(depth) - r)]
        np.subtract(depth[rows], lo, out=q, dtype=np.float64)
        q *= scale
        np.rint(q, out=q)
        np.clip(q, 0, _LEVELS, out=q)
        out[rows] = q
    return out


def dequantize(q: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """uint16 [H, W] -> float32 [H, W] raw values: ``lo + q / 65535 * (hi - lo)``."""
    return (lo + q.astype(np.float64) * ((hi - lo) / _LEVELS)).astype(np.float32)


@dataclass
class _FrameStats:
    """What a shot end needs of one staged frame, kept while the shot is open (a few KB)."""

    lo: float
    hi: float
    pts: float
    sample: np.ndarray  # float32 [<= _SAMPLES_PER_FRAME], a strided subset of the frame's pixels


class _ShotStats:
    """Running range, timestamps and percentile samples of the open shot (memory bounded whatever its length).

    Every frame's min/max/pts is kept; percentile samples only of the frames at offsets that are multiples of
    ``2**level`` from the shot start, ``level`` rising as the shot grows so that at most ``_SAMPLED_FRAMES``
    frames hold samples. The result depends only on the frames, not on the order they were added in, so a resumed
    shot gets the same percentiles as an uninterrupted one.
    """

    def __init__(self, start: int) -> None:
        self.start = start
        self.frames: dict[int, _FrameStats] = {}
        self.range = (math.inf, -math.inf)  # running (lo, hi) of the frames added (read by other threads)
        self._level = 0

    def add(self, i: int, depth: np.ndarray, pts: float, valid: np.ndarray | None = None) -> None:
        """Record frame ``i``; only its ``valid`` pixels (bool [H, W], None = all) count."""
        flat = depth.reshape(-1) if valid is None else depth[valid]
        sample = flat[:: max(1, flat.size // _SAMPLES_PER_FRAME)]
        keep = (i - self.start) % (1 << self._level) == 0
        lo, hi = (float(flat.min()), float(flat.max())) if flat.size else (math.inf, -math.inf)
        self.frames[i] = _FrameStats(lo, hi, float(pts), sample.astype(np.float32) if keep else _NO_SAMPLE)
        self.range = (min(self.range[0], lo), max(self.range[1], hi))
        while (len(self.frames) - 1) // (1 << self._level) + 1 > _SAMPLED_FRAMES:
            self._level += 1
            for j, f in self.frames.items():
                if (j - self.start) % (1 << self._level):
                    f.sample = _NO_SAMPLE

    def shot(self, index: int, end: int) -> Shot:
        frames = [self.frames[i] for i in range(self.start, end)]
        samples = np.concatenate([f.sample for f in frames])
        lo, hi = min(f.lo for f in frames), max(f.hi for f in frames)
        if not samples.size:  # no valid pixel in the sampled frames (or none at all: an empty shot at 0)
            samples = np.array([lo, hi] if math.isfinite(lo) else [0.0], np.float32)
            lo, hi = (lo, hi) if math.isfinite(lo) else (0.0, 0.0)
        p2, p98 = (float(v) for v in np.percentile(samples, [2, 98]))
        return Shot(index=index, start=self.start, end=end, lo=lo, hi=hi, p2=p2, p98=p98)


def default_png_workers() -> int:
    """Threads that write a shot's PNGs: one per CPU core this process may run on, at most 4."""
    return max(1, min(4, cpu_cores()))


class DepthPassWriter:
    """Writes a depth pass shot by shot, frame by frame, with flat memory; resumable.

    Usage::

        w = DepthPassWriter(out, info)
        i0 = w.resume_point()            # 0 for a new pass
        w.begin_shot(start)              # shots in order, each starting where the previous one ended
        w.write(i, depth, pts)           # frames in order
        w.end_shot()
        w.close()                        # writes depth_pass.json; the pass is now complete

    ``info.source`` is given relative to the working directory (or absolute) and stored relative to the pass folder.
    With ``resume=True`` a staged pass left by an interrupted run with the same ``info`` is continued; its shots and
    staged frames are kept. Otherwise (or when ``info`` differs) any staging area is discarded.

    The disk work runs behind the caller: ``write`` checks the frame and updates the shot's running statistics,
    then queues the staging (at most ``queue_size`` frames wait); ``end_shot`` records the shot at once and hands
    its 16-bit PNGs to a pool of ``png_workers`` threads, which write them while later shots are computed (from
    the staged frames still held in memory, up to ``held_bytes`` of them, and reading the others back). While a
    shot is open and ``encode_ahead`` is on, one low-priority thread encodes each held frame's PNG ahead with the
    shot's range so far (kept in memory): at the shot end a guess whose range is the shot's final one is written
    as it is, the others are encoded again, so the bytes never depend on the guess; when a shot's range is
    reached early, most of its PNG work is done before the shot ends instead of after it. That pays only where
    frames arrive spread over time (an engine computing them, not a shot handed over whole) and a core is free
    beside the engine (``core.devices.cpu_left_free``; on 2 shared cores it slowed the network as much as it
    shortened the tail: README, Speed and memory).
    ``then(fn)`` runs ``fn`` after everything queued before it is on disk (how a caller saves its own resume state
    in step with the pass). ``flush()`` waits for the queue, ``close()`` for everything. A failure in the
    background is raised by the next call.
    """

    def __init__(self, path: str | os.PathLike[str], info: PassInfo, *, resume: bool = True, queue_size: int = 8,
                 png_workers: int | None = None, held_bytes: int = _HELD_BYTES,
                 encode_ahead: bool = False) -> None:
        if info.kind not in KINDS:
            raise DepthshotError(f"unknown depth kind {info.kind!r} (expected one of {', '.join(KINDS)})")
        self.root = Path(path)
        source = os.path.relpath(os.path.abspath(info.source), os.path.abspath(self.root)) if info.source else ""
        self.info = dataclasses.replace(info, source=source, shots=[], timestamps=[], frame_count=0)
        self.work_dir = self.root / WORK_DIR
        self._raw_dir = self.work_dir / "raw"
        self._progress_path = self.work_dir / "progress.json"
        if (self.root / MANIFEST).exists():
            raise DepthshotError(f"{self.root}: a finished depth pass is already there (remove it or choose another -o)")
        if self.root.exists() and not self.root.is_dir():
            raise DepthshotError(f"{self.root}: exists and is not a folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / FRAME_DIR).mkdir(exist_ok=True)
            if info.mask_pattern is not None:
                (self.root / MASK_DIR).mkdir(exist_ok=True)
        except OSError as exc:
            raise DepthshotError(f"{self.root}: cannot create the depth pass folder ({exc.strerror})") from None
        self._shot: _ShotStats | None = None
        self._next = 0
        for folder in (self.root, self.root / FRAME_DIR, self.root / MASK_DIR, self.work_dir, self._raw_dir):
            sweep_partials(folder)  # files a killed run was writing
        self._pngs = ThreadPoolExecutor(png_workers or default_png_workers(), thread_name_prefix="depth-png")
        self._png_jobs: list[Future[None]] = []
        self._png_lock = threading.Lock()  # the disk thread adds PNG jobs, the caller's thread checks them
        self._held: dict[int, np.ndarray] = {}  # staged frames still in memory, by index (the PNG jobs take them)
        self._held_room = held_bytes
        self._held_lock = threading.Lock()  # also guards _guesses
        self._guesses: dict[int, Future[tuple[tuple[float, float], list[bytes]] | None]] = {}
        self._guesser = ThreadPoolExecutor(1, thread_name_prefix="depth-png-guess", initializer=_background_priority)
        self._encode_ahead = encode_ahead
        self.pngs_ahead = 0  # PNGs written as they were encoded ahead (a figure for the benchmarks)
        if not (resume and self._load_progress()):
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self._raw_dir.mkdir(parents=True)
            self._save_progress(self._progress())
        self._disk = Sink(_call, maxsize=queue_size)
        self._disk.__enter__()

    # -- resume --------------------------------------------------------------------------------------------------
    def _load_progress(self) -> bool:
        try:
            state = json.loads(self._progress_path.read_text())
        except (OSError, ValueError):
            return False
        if state.get("fingerprint") != self.info.fingerprint():
            log.info("staged depth pass in %s was made with other settings: starting afresh", self.root)
            return False
        self.info.shots = [Shot(**s) for s in state["shots"]]
        self.info.timestamps = list(state["timestamps"])
        self._next = self.shots_end
        # staged frames of a recorded shot: its PNGs were still being written when the run stopped
        for p in finished_files(self._raw_dir, "*.npy"):
            i = int(p.stem)
            if i < self._next:
                shot = next(s for s in self.info.shots if s.start <= i < s.end)
                self._png_jobs.append(self._pngs.submit(self._write_frame_png, i, shot.lo, shot.hi))
        shot_start = state.get("current_shot_start")
        if shot_start is not None:
            self._shot = _ShotStats(shot_start)
            while (self._raw_dir / f"{self._next:06d}.npy").exists():
                depth, pts = self._read_staged(self._next)
                self._shot.add(self._next, depth, pts, self._valid(self._read_mask(self._next)))
                self._next += 1
        log.info("resuming depth pass %s at frame %d (%d shots done)", self.root, self._next, len(self.info.shots))
        return True

    def _progress(self) -> dict[str, Any]:
        """A snapshot of the resume state (written later, in order, by the disk thread)."""
        return {
            "fingerprint": self.info.fingerprint(),
            "shots": [dataclasses.asdict(s) for s in self.info.shots],
            "timestamps": list(self.info.timestamps),
            "current_shot_start": self._shot.start if self._shot is not None else None,
        }

    def _save_progress(self, state: dict[str, Any]) -> None:
        write_text(self._progress_path, json.dumps(state))

    def resume_point(self) -> int:
        """The first frame index not yet durably written (0 for a new pass)."""
        return self._next

    @property
    def shots_end(self) -> int:
        """The first frame after the shots recorded so far (0 before the first): where the next shot starts."""
        return self.info.shots[-1].end if self.info.shots else 0

    @property
    def current_shot_start(self) -> int | None:
        """Start frame of the shot being written, or None between shots."""
        return self._shot.start if self._shot is not None else None

    # -- writing -------------------------------------------------------------------------------------------------
    def begin_shot(self, start: int) -> None:
        """Start a shot at frame ``start`` (must be where the previous shot ended)."""
        if self._shot is not None:
            if start == self._shot.start:  # resuming inside this shot
                return
            raise DepthshotError("begin_shot() called while a shot is open")
        expected = self.shots_end
        if start != expected:
            raise DepthshotError(f"shot must start at frame {expected}, not {start}")
        self._shot = _ShotStats(start)
        self._disk.put(functools.partial(self._save_progress, self._progress()))

    def write(self, i: int, depth: np.ndarray, pts: float, mask: np.ndarray | None = None) -> None:
        """Stage frame ``i`` (float [H, W] raw values, ``pts`` in seconds). Frames come in order; re-writing a
        staged frame of the open shot (after a resume) replaces it. ``mask``: uint8 [H, W] validity flags
        (``FILLED``/``UNRELIABLE``/``EMPTY``; None = all measured), only for a pass whose ``info.mask_pattern``
        is set. float16 frames are staged as float16, others
        as float32 (what the PNG is quantised from either way)."""
        if self._shot is None:
            raise DepthshotError("write() called outside a shot")
        if not self._shot.start <= i <= self._next:
            raise DepthshotError(f"frame {i} written out of order (next is {self._next})")
        if depth.shape != (self.info.height, self.info.width):
            raise DepthshotError(
                f"depth frame {i} is {depth.shape[1]}x{depth.shape[0]}, the pass is {self.info.width}x{self.info.height}"
            )
        staged = np.ascontiguousarray(depth, dtype=np.float16 if depth.dtype == np.float16 else np.float32)
        if not np.isfinite(staged).all():
            raise DepthshotError(f"depth frame {i} contains NaN or infinite values")
        if staged is depth:  # the caller may reuse its buffer once write() returns
            staged = staged.copy()
        flags = self._flags(i, staged, mask)
        self._shot.add(i, staged, pts, self._valid(flags))
        if flags is not None:  # before the staged frame, so a staged frame always has its mask
            self._disk.put(functools.partial(write_png, self.root / self.info.mask_pattern.format(index=i), flags))
        self._disk.put(functools.partial(self._stage, i, staged, float(pts)))
        if self._hold(i, staged) and self._encode_ahead:
            self._guess_later(i, self._shot)
        self._next = max(self._next, i + 1)

    def then(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` in the disk thread once everything queued before it is written."""
        self._disk.put(fn)

    def flush(self) -> None:
        """Wait until every staged frame, state change and PNG queued so far is on disk."""
        self._disk.flush()
        with self._png_lock:
            jobs, self._png_jobs = self._png_jobs, []
        for job in jobs:
            job.result()

    def end_shot(self) -> Shot:
        """Close the open shot: compute its range and percentiles (from running statistics), record it, and queue
        its 16-bit PNGs."""
        if self._shot is None:
            raise DepthshotError("end_shot() called without an open shot")
        stats, end = self._shot, self._next
        if end <= stats.start:
            raise DepthshotError(f"shot starting at frame {stats.start} has no frames")
        shot = stats.shot(len(self.info.shots), end)
        self.info.shots.append(shot)
        self.info.timestamps.extend(stats.frames[i].pts for i in range(stats.start, end))
        self._shot = None
        self._disk.put(functools.partial(self._record_shot, self._progress(), shot))
        self._check_pngs()
        return shot

    def close(self) -> DepthPass:
        """Write the manifest (the pass is complete from then on), drop the staging area, return the pass."""
        if self._shot is not None:
            self.end_shot()
        if not self.info.shots:
            raise DepthshotError("the depth pass has no frames")
        self.flush()
        self._disk.__exit__(None, None, None)
        self._pngs.shutdown()
        self._guesser.shutdown(cancel_futures=True)
        self.info.frame_count = self.info.shots[-1].end
        write_text(self.root / MANIFEST, json.dumps(self.info.to_json(), indent=1))
        shutil.rmtree(self.work_dir, ignore_errors=True)
        log.info("depth pass %s: %d of %d PNGs were encoded ahead of their shot's end", self.root, self.pngs_ahead,
                 self.info.frame_count)
        return DepthPass(self.root, self.info)

    # -- validity masks -------------------------------------------------------------------------------------------
    def _flags(self, i: int, depth: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
        """The mask to write for frame ``i`` (metric values <= 0 flagged ``EMPTY``), None for a pass without."""
        if self.info.mask_pattern is None:
            if mask is not None:
                raise DepthshotError("a mask was given but the pass was not created with mask_pattern")
            return None
        flags = np.zeros(depth.shape, np.uint8) if mask is None else np.asarray(mask, np.uint8)
        if flags.shape != depth.shape:
            raise DepthshotError(f"mask of frame {i} is {flags.shape[1]}x{flags.shape[0]}, not the depth's size")
        if self.info.kind == "metric_depth":
            flags = np.where(depth > 0, flags, flags | EMPTY).astype(np.uint8)
        return flags

    @staticmethod
    def _valid(flags: np.ndarray | None) -> np.ndarray | None:
        """bool [H, W]: the pixels that count for the shot's statistics (None: all)."""
        return None if flags is None else flags == 0

    def _read_mask(self, i: int) -> np.ndarray | None:
        if self.info.mask_pattern is None:
            return None
        flags = cv2.imread(str(self.root / self.info.mask_pattern.format(index=i)), cv2.IMREAD_UNCHANGED)
        if flags is None:
            raise DepthshotError(f"{self.root}: the staged frame {i} has no mask; remove the pass and start again")
        return flags

    # -- disk work (the disk thread and the PNG pool) -------------------------------------------------------------
    def _stage(self, i: int, depth: np.ndarray, pts: float) -> None:
        stage_frame(self._raw_dir / f"{i:06d}.npy", depth, pts)

    def _read_staged(self, i: int) -> tuple[np.ndarray, float]:
        depth, pts, _ = read_staged_frame(self._raw_dir / f"{i:06d}.npy")
        return depth, pts

    def _record_shot(self, state: dict[str, Any], shot: Shot) -> None:
        self._save_progress(state)
        self._stop_guessing(shot.start, shot.end)
        jobs = [self._pngs.submit(self._write_frame_png, i, shot.lo, shot.hi) for i in range(shot.start, shot.end)]
        with self._png_lock:
            self._png_jobs += jobs

    def _hold(self, i: int, depth: np.ndarray) -> bool:
        """Keep staged frame ``i`` in memory for its PNG while the budget allows (replacing a re-written one, and
        dropping its guess); whether it is held."""
        with self._held_lock:
            old, guess = self._held.pop(i, None), self._guesses.pop(i, None)
            self._held_room += old.nbytes if old is not None else 0
            if guess is not None and not guess.cancel() and guess.done():
                self._held_room += _guess_bytes(guess.result())
            # (a guess still being encoded sees that its frame was replaced and keeps nothing)
            if depth.nbytes > self._held_room:
                return False
            self._held[i] = depth
            self._held_room -= depth.nbytes
            return True

    def _guess_later(self, i: int, stats: _ShotStats) -> None:
        with self._held_lock:
            self._guesses[i] = self._guesser.submit(self._guess, i, stats)

    def _guess(self, i: int, stats: _ShotStats) -> tuple[tuple[float, float], list[bytes]] | None:
        """Held frame ``i``'s PNG encoded with the open shot's running ``(lo, hi)``, which is its final PNG when no
        later frame widens the range; None when the frame is no longer held or the range is not finite. The
        encoded PNG takes the raw frame's place in memory (a stale guess reads the frame back from staging)."""
        with self._held_lock:
            depth = self._held.get(i)
        for _ in range(2):  # once more when the range widened while encoding (frames come in bursts)
            lo, hi = stats.range
            if depth is None or not (math.isfinite(lo) and math.isfinite(hi)):
                return None
            parts = encode_png(quantize(depth, lo, hi))
            if stats.range == (lo, hi):
                break
        with self._held_lock:
            if self._held.get(i) is not depth:  # re-written or taken meanwhile
                return None
            del self._held[i]
            self._held_room += depth.nbytes - _guess_bytes(((lo, hi), parts))
        return (lo, hi), parts

    def _stop_guessing(self, start: int, end: int) -> None:
        """Cancel the guesses of frames ``start .. end-1`` not begun yet: once the shot has ended, its PNGs are
        encoded by the pool (at normal priority)."""
        with self._held_lock:
            for i in range(start, end):
                if i in self._guesses and self._guesses[i].cancel():
                    del self._guesses[i]

    def _guessed_png(self, i: int, lo: float, hi: float) -> list[bytes] | None:
        """Frame ``i``'s guessed PNG when it was encoded with the shot's final ``(lo, hi)``, else None (also for a
        guess still being encoded: the low-priority thread is not waited for)."""
        with self._held_lock:
            guess = self._guesses.pop(i, None)
        if guess is None or guess.cancel():
            return None
        if not guess.done():
            guess.add_done_callback(self._forget_guess)
            return None
        made = guess.result()
        with self._held_lock:
            self._held_room += _guess_bytes(made)
            if made is None or made[0] != (lo, hi):
                return None
            self.pngs_ahead += 1
        return made[1]

    def _forget_guess(self, guess: Future[tuple[tuple[float, float], list[bytes]] | None]) -> None:
        """Give back the memory of a guess that finished too late to be used."""
        if not guess.cancelled() and guess.exception() is None:
            with self._held_lock:
                self._held_room += _guess_bytes(guess.result())

    def _staged_depth(self, i: int) -> np.ndarray:
        """Staged frame ``i``: from memory when held, else read back from ``.work/raw/``."""
        with self._held_lock:
            depth = self._held.pop(i, None)
            self._held_room += depth.nbytes if depth is not None else 0
        return depth if depth is not None else self._read_staged(i)[0]

    def _write_frame_png(self, i: int, lo: float, hi: float) -> None:
        png = self._guessed_png(i, lo, hi)  # a right guess no longer holds its raw frame
        if png is None:
            png = encode_png(quantize(self._staged_depth(i), lo, hi))
        write_png(self.root / self.info.frame_pattern.format(index=i), png)
        (self._raw_dir / f"{i:06d}.npy").unlink()

    def _check_pngs(self) -> None:
        """Raise the error of a failed PNG job; forget the finished ones."""
        with self._png_lock:
            done = [job for job in self._png_jobs if job.done()]
            self._png_jobs = [job for job in self._png_jobs if not job.done()]
        for job in done:
            job.result()


def stage_frame(path: Path, depth: np.ndarray, pts: float, mask: np.ndarray | None = None) -> None:
    """Write one raw frame losslessly and atomically: ``depth`` (float32/float16 [H, W]), ``pts`` (s) and, when
    given, its uint8 [H, W] validity ``mask``, as consecutive ``.npy`` arrays (the staging format of a pass)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.lib.format.write_array(f, depth, allow_pickle=False)
        np.lib.format.write_array(f, np.array(pts, np.float64), allow_pickle=False)
        if mask is not None:
            np.lib.format.write_array(f, np.asarray(mask, np.uint8), allow_pickle=False)


def read_staged_frame(path: Path) -> tuple[np.ndarray, float, np.ndarray | None]:
    """``(depth, pts, mask or None)`` of a frame written by ``stage_frame``."""
    with open(path, "rb") as f:
        depth = np.lib.format.read_array(f, allow_pickle=False)
        pts = float(np.lib.format.read_array(f, allow_pickle=False))
        more = f.tell() < os.fstat(f.fileno()).st_size
        mask = np.lib.format.read_array(f, allow_pickle=False) if more else None
    return depth, pts, mask


def _call(fn: Callable[[], Any]) -> None:
    fn()


def _guess_bytes(guess: tuple[tuple[float, float], list[bytes]] | None) -> int:
    """Memory an encoded guess takes (bytes)."""
    return 0 if guess is None else sum(len(part) for part in guess[1])


def _background_priority() -> None:
    """Lower the calling thread's CPU priority (nice 10) where threads have their own (Linux), so that work
    done ahead yields to the engine."""
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
