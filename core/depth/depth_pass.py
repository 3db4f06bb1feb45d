"""The depth pass: the on-disk contract between the depth engines and every consumer.

A depth pass is a folder::

    PASS/depth_pass.json        manifest (see ``PassInfo``); present only once the pass is complete
    PASS/depth/000000.png       one 16-bit greyscale PNG per frame
    PASS/mask/000000.png        per-frame validity flags, 8-bit (revision 2, only when ``mask_pattern`` is set)
    PASS/.work/                 staging area of an unfinished pass (resume state); removed by ``close()``

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
percentiles, and metric values ``<= 0`` are flagged ``EMPTY``. Version 1 passes (and engines that know no
validity) have no mask: every pixel reads as 0. Revision 1 passes are read as they are; older readers ignore the
new fields.

While a pass is being written, frames of the current shot are staged losslessly as float32 EXR files in
``.work/raw/`` (the shot's range is only known when the shot ends); finished shots are recorded in
``.work/progress.json``, so an interrupted job resumes at ``DepthPassWriter.resume_point()``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import OpenEXR

from core import __version__
from core.atomic import atomic_path, finished_files, sweep_partials, write_text
from core.errors import DepthshotError

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
_LEVELS = 65535
_PERCENTILE_SAMPLES = 1_000_000  # pixels sampled per shot for the robust percentiles

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
    revision: int = FORMAT_REVISION  # manifests without the field are revision 1
    format: str = FORMAT_NAME
    encoding: str = "png16"
    frame_pattern: str = f"{FRAME_DIR}/{{index:06d}}.png"
    mask_pattern: str | None = None  # MASK_PATTERN when the pass carries validity masks (revision 2)
    poses: dict[str, Any] | None = None  # camera poses per frame, see core.geometry.poses.poses_manifest

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
        if data.get("format") != FORMAT_NAME:
            raise DepthshotError(f"{manifest}: not a depthshot depth pass manifest")
        if data.get("version", 0) > FORMAT_VERSION:
            raise DepthshotError(f"{manifest}: format version {data['version']} is newer than this depthshot reads")
        info = PassInfo.from_json(data)
        covered = sum(s.end - s.start for s in info.shots)
        if covered != info.frame_count or len(info.timestamps) != info.frame_count:
            raise DepthshotError(f"{manifest}: inconsistent manifest (shots or timestamps do not cover every frame)")
        return cls(root, info)

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
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None or img.dtype != np.uint16 or img.shape != (self.info.height, self.info.width):
            raise DepthshotError(f"{path}: missing or not a {self.info.width}x{self.info.height} 16-bit depth frame")
        return dequantize(img, shot.lo, shot.hi)

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

    def _check_index(self, i: int) -> None:
        if not 0 <= i < self.info.frame_count:
            raise DepthshotError(f"frame {i} is outside the depth pass (0..{self.info.frame_count - 1})")


def quantize(depth: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """float [H, W] raw values -> uint16 [H, W] normalised over ``[lo, hi]`` (round to nearest)."""
    scale = _LEVELS / (hi - lo) if hi > lo else 0.0
    q = np.rint((depth.astype(np.float64) - lo) * scale)
    return np.clip(q, 0, _LEVELS).astype(np.uint16)


def dequantize(q: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """uint16 [H, W] -> float32 [H, W] raw values: ``lo + q / 65535 * (hi - lo)``."""
    return (lo + q.astype(np.float64) * ((hi - lo) / _LEVELS)).astype(np.float32)


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
    """

    def __init__(self, path: str | os.PathLike[str], info: PassInfo, *, resume: bool = True) -> None:
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
        except OSError as exc:
            raise DepthshotError(f"{self.root}: cannot create the depth pass folder ({exc.strerror})") from None
        self._shot_start: int | None = None
        self._next = 0
        for folder in (self.root, self.root / FRAME_DIR, self.root / MASK_DIR, self.work_dir, self._raw_dir):
            sweep_partials(folder)  # files a killed run was writing
        if not (resume and self._load_progress()):
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self._raw_dir.mkdir(parents=True)
            self._save_progress()

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
        self._next = self.info.shots[-1].end if self.info.shots else 0
        done = {s.index for s in self.info.shots}
        # staged frames of a recorded shot are leftovers of a crash between recording and cleaning up
        for p in finished_files(self._raw_dir, "*.exr"):
            if int(p.stem) < self._next:
                p.unlink()
        self._shot_start = state.get("current_shot_start")
        if self._shot_start is not None:
            while (self._raw_dir / f"{self._next:06d}.exr").exists():
                self._next += 1
        log.info("resuming depth pass %s at frame %d (%d shots done)", self.root, self._next, len(done))
        return True

    def _save_progress(self) -> None:
        state = {
            "fingerprint": self.info.fingerprint(),
            "shots": [dataclasses.asdict(s) for s in self.info.shots],
            "timestamps": self.info.timestamps,
            "current_shot_start": self._shot_start,
        }
        write_text(self._progress_path, json.dumps(state))

    def resume_point(self) -> int:
        """The first frame index not yet durably written (0 for a new pass)."""
        return self._next

    @property
    def current_shot_start(self) -> int | None:
        """Start frame of the shot being written, or None between shots."""
        return self._shot_start

    # -- writing -------------------------------------------------------------------------------------------------
    def begin_shot(self, start: int) -> None:
        """Start a shot at frame ``start`` (must be where the previous shot ended)."""
        if self._shot_start is not None:
            if start == self._shot_start:  # resuming inside this shot
                return
            raise DepthshotError("begin_shot() called while a shot is open")
        expected = self.info.shots[-1].end if self.info.shots else 0
        if start != expected:
            raise DepthshotError(f"shot must start at frame {expected}, not {start}")
        self._shot_start = start
        self._save_progress()

    def write(self, i: int, depth: np.ndarray, pts: float, mask: np.ndarray | None = None) -> None:
        """Stage frame ``i`` (float [H, W] raw values, ``pts`` in seconds). Frames come in order; re-writing a
        staged frame of the open shot (after a resume) replaces it. ``mask``: uint8 [H, W] validity flags
        (``FILLED``/``UNRELIABLE``/``EMPTY``; None = all measured), only for a pass whose ``info.mask_pattern`` is
        set; it is written to its final place at once (it needs no shot range)."""
        if self._shot_start is None:
            raise DepthshotError("write() called outside a shot")
        if not self._shot_start <= i <= self._next:
            raise DepthshotError(f"frame {i} written out of order (next is {self._next})")
        if depth.shape != (self.info.height, self.info.width):
            raise DepthshotError(
                f"depth frame {i} is {depth.shape[1]}x{depth.shape[0]}, the pass is {self.info.width}x{self.info.height}"
            )
        if not np.isfinite(depth).all():
            raise DepthshotError(f"depth frame {i} contains NaN or infinite values")
        if self.info.mask_pattern is not None:
            flags = np.zeros(depth.shape, np.uint8) if mask is None else np.asarray(mask, np.uint8)
            if flags.shape != depth.shape:
                raise DepthshotError(f"mask of frame {i} is {flags.shape[1]}x{flags.shape[0]}, not the depth's size")
            if self.info.kind == "metric_depth":
                flags = np.where(depth > 0, flags, flags | EMPTY).astype(np.uint8)
            (self.root / MASK_DIR).mkdir(exist_ok=True)
            _write_png(self.root / self.info.mask_pattern.format(index=i), flags)
        elif mask is not None:
            raise DepthshotError("a mask was given but the pass was not created with mask_pattern")
        # EXR float attributes are 32-bit: keep the timestamp exact as text
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, "pts": repr(float(pts))}
        with atomic_path(self._raw_dir / f"{i:06d}.exr") as tmp:
            OpenEXR.File(header, {"Z": np.ascontiguousarray(depth, dtype=np.float32)}).write(str(tmp))
        self._next = max(self._next, i + 1)

    def end_shot(self) -> Shot:
        """Close the open shot: compute its range and percentiles, write its 16-bit PNGs, record it."""
        if self._shot_start is None:
            raise DepthshotError("end_shot() called without an open shot")
        start, end = self._shot_start, self._next
        if end <= start:
            raise DepthshotError(f"shot starting at frame {start} has no frames")
        lo, hi, samples, stamps = math.inf, -math.inf, [], []
        per_frame = max(1, math.ceil(_PERCENTILE_SAMPLES / (end - start)))
        for i in range(start, end):
            depth, pts = self._read_staged(i)
            flat = self._statistics_pixels(i, depth)
            if flat.size:
                lo, hi = min(lo, float(flat.min())), max(hi, float(flat.max()))
            samples.append(flat[:: max(1, flat.size // per_frame)].copy())  # a view would keep the frame alive
            stamps.append(pts)
        samples = [s for s in samples if s.size]
        if not samples:  # no valid pixel in the whole shot: the range of whatever is there
            for i in range(start, end):
                depth, _ = self._read_staged(i)
                lo, hi = min(lo, float(depth.min())), max(hi, float(depth.max()))
                samples.append(depth.reshape(-1)[:: max(1, depth.size // per_frame)].copy())
        p2, p98 = (float(v) for v in np.percentile(np.concatenate(samples), [2, 98]))
        shot = Shot(index=len(self.info.shots), start=start, end=end, lo=lo, hi=hi, p2=p2, p98=p98)
        for i in range(start, end):
            depth, _ = self._read_staged(i)
            _write_png(self.root / self.info.frame_pattern.format(index=i), quantize(depth, lo, hi))
        self.info.shots.append(shot)
        self.info.timestamps.extend(stamps)
        self._shot_start = None
        self._save_progress()
        for i in range(start, end):
            (self._raw_dir / f"{i:06d}.exr").unlink(missing_ok=True)
        return shot

    def close(self) -> DepthPass:
        """Write the manifest (the pass is complete from then on), drop the staging area, return the pass."""
        if self._shot_start is not None:
            self.end_shot()
        if not self.info.shots:
            raise DepthshotError("the depth pass has no frames")
        self.info.frame_count = self.info.shots[-1].end
        write_text(self.root / MANIFEST, json.dumps(self.info.to_json(), indent=1))
        shutil.rmtree(self.work_dir, ignore_errors=True)
        return DepthPass(self.root, self.info)

    def _statistics_pixels(self, i: int, depth: np.ndarray) -> np.ndarray:
        """The values of frame ``i`` that count for the shot's range: with masks, the unflagged ones (which
        excludes metric values <= 0, flagged ``EMPTY``); without (revision 1 behaviour), all of them."""
        if self.info.mask_pattern is None:
            return depth.reshape(-1)
        flags = cv2.imread(str(self.root / self.info.mask_pattern.format(index=i)), cv2.IMREAD_UNCHANGED)
        return depth.reshape(-1) if flags is None else depth[flags == 0]

    def _read_staged(self, i: int) -> tuple[np.ndarray, float]:
        path = self._raw_dir / f"{i:06d}.exr"
        with OpenEXR.File(str(path)) as f:
            return np.asarray(f.channels()["Z"].pixels, dtype=np.float32), float(f.header()["pts"])


def _write_png(path: Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise DepthshotError(f"{path}: cannot write depth frame")
