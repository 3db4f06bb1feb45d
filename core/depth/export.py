"""Export a depth pass for other tools: float EXR sequences, one NumPy ``.npz``, 16-bit PNGs, a depth video.

    python -m core.depth export PASS -o OUT --format exr|exr-half|npz|png16|video [--frames 0-99]
        [--start-number 1001] [--name depth] [--normalize video|shot] [--invert] [--as depth|disparity]
        [--preview-codec h264|h265] [--overwrite]

OUT is a folder that appears only once complete. It always holds ``NAME.json``, a sidecar that says what the
numbers are (quantity, units, frame rate, intrinsics, shots, each frame's file, source frame number and time, and
for normalised formats how to map the stored integers back), and ``mask/NAME.NNNNNN.png`` (8-bit validity flags,
see ``core.depth.depth_pass``) when the pass has masks. ``core.depth.import_depth OUT/...`` reads every format
back.

- ``exr`` / ``exr-half``: ``NAME.NNNNNN.exr``, one float32 (or half) channel ``Z``, ZIP compression, with
  ``depthshot:*`` attributes (quantity, units, shot, source frame, time in seconds).
- ``npz``: ``NAME.npz`` as the VDA reference writes it (``depths`` float32 [T, H, W]) plus metadata arrays. It is
  streamed into the (uncompressed) zip frame by frame, so a film-length pass never has to fit in memory.
- ``png16``: ``NAME.NNNNNN.png`` normalised per video or per shot; the mapping back is in the sidecar and in each
  PNG's ``depthshot`` text chunk: ``value = offset + scale * pixel``.
- ``video``: ``NAME.mkv``, lossless 16-bit grey FFV1 with the same normalisation as ``png16``, and
  ``NAME_preview.mp4`` (8-bit H.264, or 10-bit H.265 with ``--preview-codec h265``); both keep the source's
  frame times, so they line up with the source on a timeline.

Values: metric passes export metres (``--as disparity``: 1/metres); relative passes export their relative inverse
depth (``--as depth`` is refused: depth is undefined for an affine-invariant inverse depth). Pixels flagged
``EMPTY`` (no value) are 0 in float formats. Normalised formats put near at white by default (what displacement
and most editors expect); ``--invert`` puts near at black.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_dir
from core.cli import run_main, setup_logging
from core.depth.depth_pass import EMPTY, DepthPass, Shot
from core.errors import DepthshotError

log = logging.getLogger(__name__)

FORMATS = ("exr", "exr-half", "npz", "png16", "video")
EXPORT_FORMAT = "depthshot-depth-export"
EXPORT_VERSION = 1
_LEVELS = 65535

# quantity -> (units, near is the larger value)
QUANTITIES: dict[str, tuple[str, bool]] = {
    "metric_depth": ("m", False),
    "metric_inverse_depth": ("1/m", True),
    "relative_inverse_depth": ("relative", True),
}


@dataclass
class ExportOptions:
    """How to export a pass. ``frames``: pass frame indices (None: all); ``start_number``: file number of pass
    frame 0 (None: its source frame number); ``as_``: ``"depth"``, ``"disparity"`` or None (the pass's own)."""

    format: str
    frames: list[int] | None = None
    start_number: int | None = None
    name: str = "depth"
    normalize: str = "video"  # png16/video: one range for the video, or one per shot
    invert: bool = False  # png16/video: near = black
    as_: str | None = None
    preview_codec: str = "h264"
    overwrite: bool = False


def export_quantity(kind: str, as_: str | None) -> str:
    """The quantity an export of a ``kind`` pass holds when asked ``as_`` (``depth``/``disparity``/None)."""
    if as_ not in (None, "depth", "disparity"):
        raise DepthshotError(f"--as must be depth or disparity, not {as_!r}")
    if kind == "metric_depth":
        return "metric_inverse_depth" if as_ == "disparity" else "metric_depth"
    if as_ == "depth":
        raise DepthshotError("--as depth needs a metric pass: this pass holds relative inverse depth (affine-"
                             "invariant), whose depth is undefined; export it as is or as disparity")
    return "relative_inverse_depth"


def frame_values(dp: DepthPass, i: int, quantity: str) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``i`` as ``quantity``: (float32 [H, W] values, uint8 [H, W] validity flags); EMPTY pixels are 0."""
    depth, flags = dp.read(i), dp.read_mask(i)
    if quantity == "metric_inverse_depth":
        with np.errstate(divide="ignore"):
            depth = np.where(depth > 0, np.float32(1) / depth, np.float32(0)).astype(np.float32)
    return np.where(flags & EMPTY, np.float32(0), depth).astype(np.float32), flags


def _shot_range(shot: Shot, quantity: str) -> tuple[float, float]:
    """(lo, hi) of ``quantity`` over a shot's valid pixels."""
    if quantity != "metric_inverse_depth":
        return shot.lo, shot.hi
    tiny = np.finfo(np.float32).tiny
    return 1.0 / max(shot.hi, tiny), 1.0 / max(shot.lo, tiny)


def _mapping(lo: float, hi: float, near_large: bool, invert: bool) -> tuple[float, float]:
    """(offset, scale) with ``value = offset + scale * pixel`` for pixels 0..65535 spanning [lo, hi], near at
    65535 (white) unless ``invert``."""
    step = (hi - lo) / _LEVELS if hi > lo else 0.0
    return (lo, step) if near_large != invert else (hi, -step)


def _encode(values: np.ndarray, offset: float, scale: float) -> np.ndarray:
    """float32 [H, W] -> uint16 [H, W] through ``pixel = (value - offset) / scale`` (rounded, clipped)."""
    q = (values.astype(np.float64) - offset) / scale if scale else np.zeros(values.shape)
    return np.clip(np.rint(q), 0, _LEVELS).astype(np.uint16)


def export_pass(
    pass_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    opts: ExportOptions,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Export the pass at ``pass_path`` into the folder ``out`` (see the module docstring); returns ``out``.

    ``on_progress(done, total)`` is called after each frame. ``out`` appears only when complete; an existing
    ``out`` is refused unless ``opts.overwrite``.
    """
    if opts.format not in FORMATS:
        raise DepthshotError(f"unknown export format {opts.format!r} (expected one of {', '.join(FORMATS)})")
    if opts.normalize not in ("video", "shot"):
        raise DepthshotError(f"--normalize must be video or shot, not {opts.normalize!r}")
    if opts.invert and opts.format not in ("png16", "video"):
        raise DepthshotError("--invert applies to png16 and video exports; float formats keep the values "
                             "(use --as depth|disparity to choose what they hold)")
    if opts.preview_codec not in ("h264", "h265"):
        raise DepthshotError(f"--preview-codec must be h264 or h265, not {opts.preview_codec!r}")
    if opts.start_number is not None and opts.start_number < 0:
        raise DepthshotError(f"--start-number must be 0 or more, got {opts.start_number}")
    if not opts.name or "/" in opts.name or opts.name.startswith("."):
        raise DepthshotError(f"--name must be a plain file name, not {opts.name!r}")
    dp = DepthPass.open(pass_path)
    info = dp.info
    quantity = export_quantity(info.kind, opts.as_)
    frames = list(range(len(dp))) if opts.frames is None else opts.frames
    out = Path(out)
    if out.exists() and not opts.overwrite:
        raise DepthshotError(f"{out}: exists (use --overwrite to replace it)")
    if out.exists() and not out.is_dir():
        raise DepthshotError(f"{out}: exists and is not a folder")
    missing = [i for i in frames
               if not dp.frame_path(i).is_file() or (dp.mask_path(i) is not None and not dp.mask_path(i).is_file())]
    if missing:
        raise DepthshotError(f"{dp.root}: {len(missing)} frame file(s) missing, first {dp.frame_path(missing[0])}; "
                             "recompute or re-import the pass")
    first_number = round(info.timestamps[0] * info.fps) if info.fps > 0 else 0
    start_number = first_number if opts.start_number is None else opts.start_number
    plan = _Plan(dp, quantity, frames, start_number, opts)
    try:
        with atomic_dir(out, replace=opts.overwrite) as tmp:
            _WRITERS[opts.format](plan, tmp, on_progress or (lambda done, total: None))
            (tmp / f"{opts.name}.json").write_text(json.dumps(plan.sidecar(), indent=1))
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DepthshotError(f"{out}: the disk is full; nothing was written (free space and run again)") from None
        raise DepthshotError(f"{out}: cannot write the export ({exc.strerror or exc})") from None
    log.info("exported %d frames to %s", len(frames), out)
    return out


class _Plan:
    """What an export writes: the frames, their file names and numbers, the value mapping; builds the sidecar."""

    def __init__(self, dp: DepthPass, quantity: str, frames: list[int], start_number: int, opts: ExportOptions):
        self.dp, self.quantity, self.frames, self.opts = dp, quantity, frames, opts
        self.numbers = [start_number + i for i in frames]
        self.has_mask = dp.info.mask_pattern is not None
        units, near_large = QUANTITIES[quantity]
        self.units = units
        shots = sorted({dp.shot_of(i).index for i in frames})
        ranges = {s: _shot_range(dp.info.shots[s], quantity) for s in shots}
        if opts.normalize == "video":
            lo, hi = min(r[0] for r in ranges.values()), max(r[1] for r in ranges.values())
            ranges = {s: (lo, hi) for s in shots}
        self.mapping = {s: _mapping(*ranges[s], near_large, opts.invert) for s in shots}
        self.records: list[dict[str, Any]] = []

    def file(self, n: int, suffix: str) -> str:
        return f"{self.opts.name}.{n:06d}{suffix}"

    def frame(self, k: int) -> tuple[int, int, Shot, np.ndarray, np.ndarray]:
        """(pass index, file number, shot, values, flags) of the ``k``-th exported frame."""
        i = self.frames[k]
        values, flags = frame_values(self.dp, i, self.quantity)
        return i, self.numbers[k], self.dp.shot_of(i), values, flags

    def record(self, i: int, number: int, shot: Shot, file: str | None, normalised: bool = False) -> dict[str, Any]:
        rec: dict[str, Any] = {"index": i, "number": number, "pts": self.dp.info.timestamps[i], "shot": shot.index}
        if file is not None:
            rec["file"] = file
        if normalised:
            rec["offset"], rec["scale"] = self.mapping[shot.index]
        self.records.append(rec)
        return rec

    def write_mask(self, folder: Path, number: int, flags: np.ndarray) -> None:
        if self.has_mask:
            import cv2

            (folder / "mask").mkdir(exist_ok=True)
            if not cv2.imwrite(str(folder / "mask" / self.file(number, ".png")), flags):
                raise OSError(errno.EIO, "cannot write a mask PNG")

    def sidecar(self) -> dict[str, Any]:
        info, opts = self.dp.info, self.opts
        source = self.dp.source_path()
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "export_format": opts.format,
            "kind": info.kind,
            "quantity": self.quantity,
            "units": self.units,
            "fps": info.fps,
            "width": info.width,
            "height": info.height,
            "intrinsics": info.intrinsics,
            "source": str(source.resolve()) if source is not None else "",
            "model": info.model,
            "normalize": opts.normalize if opts.format in ("png16", "video") else None,
            "near": ("black" if opts.invert else "white") if opts.format in ("png16", "video") else None,
            "mask": f"mask/{opts.name}.{{number:06d}}.png" if self.has_mask else None,
            "files": _FILES[opts.format](opts.name),
            "frames": self.records,
        }


def _attributes(plan: _Plan, i: int, number: int, shot: Shot) -> dict[str, Any]:
    return {
        "depthshot:quantity": plan.quantity,
        "depthshot:units": plan.units,
        "depthshot:shot": int(shot.index),
        "depthshot:frame": int(number),
        "depthshot:pts": float(plan.dp.info.timestamps[i]),
    }


def _write_exr(plan: _Plan, folder: Path, progress: Callable[[int, int], None]) -> None:
    import OpenEXR

    dtype = np.float16 if plan.opts.format == "exr-half" else np.float32
    for k in range(len(plan.frames)):
        i, number, shot, values, flags = plan.frame(k)
        name = plan.file(number, ".exr")
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
                  **_attributes(plan, i, number, shot)}
        try:
            OpenEXR.File(header, {"Z": values.astype(dtype)}).write(str(folder / name))
        except RuntimeError as exc:  # the bindings report write failures (a full disk among them) this way
            raise OSError(errno.ENOSPC if "space" in str(exc).lower() else errno.EIO, str(exc)) from None
        plan.write_mask(folder, number, flags)
        plan.record(i, number, shot, name)
        progress(k + 1, len(plan.frames))


def _write_png16(plan: _Plan, folder: Path, progress: Callable[[int, int], None]) -> None:
    from PIL import Image, PngImagePlugin

    for k in range(len(plan.frames)):
        i, number, shot, values, flags = plan.frame(k)
        name = plan.file(number, ".png")
        rec = plan.record(i, number, shot, name, normalised=True)
        text = PngImagePlugin.PngInfo()
        text.add_text("depthshot", json.dumps({key: rec[key] for key in ("offset", "scale", "pts", "shot", "number")}
                                              | {"quantity": plan.quantity, "units": plan.units}))
        Image.fromarray(_encode(values, rec["offset"], rec["scale"])).save(folder / name, pnginfo=text)
        plan.write_mask(folder, number, flags)
        progress(k + 1, len(plan.frames))


def _write_npz(plan: _Plan, folder: Path, progress: Callable[[int, int], None]) -> None:
    info = plan.dp.info
    count, shape = len(plan.frames), (len(plan.frames), info.height, info.width)
    with zipfile.ZipFile(folder / f"{plan.opts.name}.npz", "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        masks: list[int] = []
        with zf.open("depths.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_2_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})
            for k in range(count):
                i, number, shot, values, _ = plan.frame(k)
                f.write(np.ascontiguousarray(values, "<f4").tobytes())
                plan.record(i, number, shot, None)
                progress(k + 1, count)
        if plan.has_mask:
            with zf.open("mask.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_2_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
                for i in plan.frames:
                    f.write(np.ascontiguousarray(plan.dp.read_mask(i)).tobytes())
                    masks.append(i)
        k_matrix = np.zeros((0, 3, 3))
        if info.intrinsics:
            c = info.intrinsics
            k_matrix = np.array([[c["fx"], 0, c["cx"]], [0, c["fy"], c["cy"]], [0, 0, 1]], np.float64)
        meta = {
            "quantity": np.array(plan.quantity),
            "units": np.array(plan.units),
            "kind": np.array(info.kind),
            "fps": np.array(info.fps, np.float64),
            "timestamps": np.array([info.timestamps[i] for i in plan.frames], np.float64),
            "frame_index": np.array(plan.frames, np.int64),
            "frame_number": np.array(plan.numbers, np.int64),
            "shot": np.array([plan.dp.shot_of(i).index for i in plan.frames], np.int32),
            "shot_starts": np.array([s.start for s in info.shots], np.int64),
            "intrinsics": k_matrix,
            "distortion": np.array((info.intrinsics or {}).get("distortion", []), np.float64),
        }
        for key, arr in meta.items():
            with zf.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array(f, arr, allow_pickle=False)


def _write_video(plan: _Plan, folder: Path, progress: Callable[[int, int], None]) -> None:
    from core.video import EncodeSettings, VideoWriter

    info = plan.dp.info
    name = plan.opts.name
    even = (info.width + info.width % 2, info.height + info.height % 2)  # yuv420p needs even sizes
    deep = plan.opts.preview_codec == "h265"
    preview_settings = EncodeSettings(codec=plan.opts.preview_codec, crf=18, preset="medium",
                                      pix_fmt="yuv420p10le" if deep else "yuv420p")
    lossless = VideoWriter(folder / f"{name}.mkv", info.width, info.height, info.fps,
                           EncodeSettings(codec="ffv1", pix_fmt="gray16le"))
    preview = VideoWriter(folder / f"{name}_preview.mp4", *even, info.fps, preview_settings)
    with lossless, preview:
        for k in range(len(plan.frames)):
            i, number, shot, values, flags = plan.frame(k)
            rec = plan.record(i, number, shot, None, normalised=True)
            plan.write_mask(folder, number, flags)
            q = _encode(values, rec["offset"], rec["scale"])
            pts = info.timestamps[i]
            lossless.write(q, pts)
            padded = np.pad(q, ((0, even[1] - info.height), (0, even[0] - info.width)), mode="edge")
            preview.write(padded if deep else (padded >> 8).astype(np.uint8), pts)
            progress(k + 1, len(plan.frames))


_FILES: dict[str, Callable[[str], dict[str, str]]] = {
    "exr": lambda name: {"frames": f"{name}.{{number:06d}}.exr"},
    "exr-half": lambda name: {"frames": f"{name}.{{number:06d}}.exr"},
    "npz": lambda name: {"npz": f"{name}.npz"},
    "png16": lambda name: {"frames": f"{name}.{{number:06d}}.png"},
    "video": lambda name: {"video": f"{name}.mkv", "preview": f"{name}_preview.mp4"},
}
_WRITERS: dict[str, Callable[[_Plan, Path, Callable[[int, int], None]], None]] = {
    "exr": _write_exr,
    "exr-half": _write_exr,
    "npz": _write_npz,
    "png16": _write_png16,
    "video": _write_video,
}


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    from core.geometry.sequence import parse_frames

    p = argparse.ArgumentParser(prog="python -m core.depth export", description=__doc__.split("\n\n")[0])
    p.add_argument("input", type=Path, help="depth pass folder")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder to create")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--frames", help="frames to export, e.g. 0-99, 120, 200-, 0-99:5 (default: all)")
    p.add_argument("--start-number", type=int, help="file number of the pass's first frame (default: its frame "
                   "number in the source; e.g. 1001 for VFX conventions)")
    p.add_argument("--name", default="depth", help="file name stem (default: depth)")
    p.add_argument("--normalize", choices=("video", "shot"), default="video",
                   help="png16/video: one value range for the whole export, or one per shot (default: video)")
    p.add_argument("--invert", action="store_true", help="png16/video: near = black (default: near = white)")
    p.add_argument("--as", dest="as_", choices=("depth", "disparity"),
                   help="metric passes: metres (depth, default) or 1/metres (disparity)")
    p.add_argument("--preview-codec", choices=("h264", "h265"), default="h264",
                   help="video: the preview's codec (h264 8-bit, h265 10-bit Main10)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    frames = parse_frames(args.frames, len(DepthPass.open(args.input))) if args.frames else None
    opts = ExportOptions(format=args.format, frames=frames, start_number=args.start_number, name=args.name,
                         normalize=args.normalize, invert=args.invert, as_=args.as_,
                         preview_codec=args.preview_codec, overwrite=args.overwrite)
    bars: list[tqdm] = []  # opened at the first frame, after every check has passed

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="frame", desc=f"export {args.format}", dynamic_ncols=True))
        bars[0].update(done - bars[0].n)

    try:
        out = export_pass(args.input, args.output, opts, progress)
    finally:
        for bar in bars:
            bar.close()
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
