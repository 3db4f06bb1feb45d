"""Import external depth (a depth sensor's 16-bit PNGs, another tool's EXR or npz output) into a depth pass.

    python -m core.depth.import_depth SRC -o PASS [--scale 5000] [--kind metric_depth] [--video rgb.mp4] [--fps 30]
        [--intrinsics intrinsics.json] [--frames N] [--no-fill]

SRC is a folder of per-frame files (``*.png`` uint16, ``*.exr`` with a ``Z`` or single channel, ``*.npy``), sorted
by name, one ``.npz`` holding a ``depths`` (the VDA reference's key) or ``depth`` array ``[N, H, W]``, or anything
``python -m core.depth export`` wrote (its folder, or its ``.npz``/``.mkv``): an export comes back with its shots,
frame times, intrinsics and validity masks, so a float export round-trips to the same pass. Raw value = file value / ``scale`` (a Kinect's
16-bit PNG in 1/5000 m: ``--scale 5000``). Zeros (and non-finite values) are holes: by default they are filled from
the farther side of their border (see ``fill_holes``), because sensor holes sit mostly in the shadow that a near
object casts on the background. Every pass it writes carries a validity mask (see ``core.depth.depth_pass``):
filled pixels are flagged ``FILLED``, holes kept with ``--no-fill`` ``EMPTY``. Other sources are written as one shot.

``--intrinsics`` is a JSON file with ``fx``, ``fy``, ``cx``, ``cy`` in pixels and optionally OpenCV distortion
coefficients ``distortion`` ``[k1, k2, p1, p2, k3]`` (TUM's key ``distortion_k1_k2_p1_p2_k3`` is read too).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import OpenEXR

from core.atomic import finished_files
from core.cli import StageBars, run_main, setup_logging
from core.depth.depth_pass import EMPTY, FILLED, KINDS, MASK_PATTERN, DepthPass, DepthPassWriter, PassInfo
from core.errors import DepthshotError
from core.progress import OnProgress, Stage

log = logging.getLogger(__name__)

_FRAME_SUFFIXES = (".png", ".exr", ".npy")


def fill_holes(depth: np.ndarray, kind: str = "metric_depth", max_iterations: int = 4096) -> np.ndarray:
    """Fill holes (values <= 0 or non-finite) of a depth map from their farther-away neighbours.

    Each pass grows every hole's border inward by one pixel, taking the farthest valid neighbour in a 3x3 window
    (the largest metric depth, or the smallest inverse depth for ``relative_inverse_depth``).

    Args:
        depth: float [H, W]; holes are ``<= 0`` or non-finite.
        kind: ``metric_depth`` or ``relative_inverse_depth`` (decides which side is "far").
    Returns:
        float32 [H, W] without holes (unchanged where the input was valid).
    Raises:
        DepthshotError: when the map has no valid pixel at all.
    """
    out = np.asarray(depth, dtype=np.float32).copy()
    hole = hole_mask(out)
    if not hole.any():
        return out
    if hole.all():
        raise DepthshotError("depth frame has no valid pixel to fill its holes from")
    far_is_large = kind == "metric_depth"
    # farthest = max of depth, or max of -inverse depth
    work = np.where(hole, -np.inf, out if far_is_large else -out).astype(np.float32)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(max_iterations):
        grown = cv2.dilate(work, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=-np.inf)
        newly = hole & np.isfinite(grown)
        work[newly] = grown[newly]
        hole &= ~newly
        if not hole.any():
            break
    return work if far_is_large else -work


def hole_mask(depth: np.ndarray) -> np.ndarray:
    """bool [H, W]: the holes of a depth map (values <= 0 or non-finite), what :func:`fill_holes` fills."""
    return ~np.isfinite(depth) | (depth <= 0)


def read_intrinsics_file(path: str | Path) -> dict[str, Any]:
    """A JSON intrinsics file -> the pass's ``intrinsics`` dict: fx, fy, cx, cy (pixels) and, when the file has
    them, ``distortion`` (OpenCV coefficients k1, k2, p1, p2[, k3[, k4, k5, k6]])."""
    try:
        data = json.loads(Path(path).read_text())
        out: dict[str, Any] = {k: float(data[k]) for k in ("fx", "fy", "cx", "cy")}
        dist = data.get("distortion", data.get("distortion_k1_k2_p1_p2_k3"))
        if dist is not None:
            out["distortion"] = [float(v) for v in dist]
            if len(out["distortion"]) not in (4, 5, 8):
                raise ValueError("distortion needs 4, 5 or 8 OpenCV coefficients")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DepthshotError(f"{path}: expected JSON with fx, fy, cx, cy [, distortion] ({exc})") from None
    return out


def _frame_files(src: Path) -> list[Path]:
    files = [p for p in finished_files(src) if p.suffix.lower() in _FRAME_SUFFIXES]
    if not files:
        raise DepthshotError(f"{src}: no depth frames ({', '.join(_FRAME_SUFFIXES)}) in this folder")
    suffixes = {p.suffix.lower() for p in files}
    if len(suffixes) > 1:
        raise DepthshotError(f"{src}: mixed frame types {sorted(suffixes)}; keep one kind per folder")
    return files


def _read_frame_file(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".png":
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None or img.ndim != 2:
            raise DepthshotError(f"{path}: not a single-channel depth PNG")
        return img.astype(np.float32)
    if suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
    else:
        try:
            with OpenEXR.File(str(path)) as f:  # the pixels are only readable while the file is open
                channels = f.channels()
                arr = np.array(channels["Z" if "Z" in channels else next(iter(channels))].pixels)
        except (OSError, RuntimeError, StopIteration) as exc:  # OpenEXR raises RuntimeError for unreadable files
            raise DepthshotError(f"{path}: unreadable EXR ({exc or 'no channels'})") from None
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim != 2:
        raise DepthshotError(f"{path}: expected a single-channel depth map, got shape {arr.shape}")
    return arr


@dataclass
class ExternalDepth:
    """External depth opened for import: the frames' file values and what the files say about them (fields are
    None where they say nothing)."""

    count: int
    frames: Iterator[np.ndarray]  # float32 [H, W] file values, unscaled
    masks: Iterator[np.ndarray] | None = None  # uint8 [H, W] validity flags (a depthshot export)
    kind: str | None = None
    quantity: str | None = None  # "metric_inverse_depth" is turned into metres on import
    fps: float | None = None
    timestamps: list[float] | None = None
    shots: list[int] | None = None  # shot index of each frame
    intrinsics: dict[str, Any] | None = None
    source: str | None = None


def read_external_depth(src: str | Path) -> ExternalDepth:
    """Open external depth: a folder of frames (or a depthshot export with its ``*.json`` sidecar), an ``.npz``
    (``depths`` as the VDA reference writes it, or ``depth``), or a depth video with its sidecar."""
    src = Path(src)
    if not src.exists():
        raise DepthshotError(f"{src}: no such file or folder")
    sidecar = _sidecar(src)
    if sidecar is not None:
        return _read_export(*sidecar)
    if src.is_dir():
        files = _frame_files(src)
        return ExternalDepth(len(files), (_read_frame_file(p) for p in files))
    if src.suffix.lower() == ".npz":
        return _read_npz(src)
    raise DepthshotError(f"{src}: expected a folder of depth frames, an .npz file, or a depthshot export")


def _sidecar(src: Path) -> tuple[Path, dict[str, Any]] | None:
    """The depthshot export sidecar that describes ``src`` (an export folder, or a file inside one), if any."""
    from core.depth.export import EXPORT_FORMAT

    candidates = sorted(src.glob("*.json")) if src.is_dir() else [src.with_suffix(".json")]
    for path in candidates:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("format") == EXPORT_FORMAT:
            return path, data
    return None


def _read_export(sidecar: Path, meta: dict[str, Any]) -> ExternalDepth:
    """A depthshot export (``core.depth.export``) described by its sidecar."""
    from core.depth.export import EXPORT_VERSION

    if meta.get("version", 0) > EXPORT_VERSION:
        raise DepthshotError(f"{sidecar}: export version {meta['version']} is newer than this depthshot reads")
    folder, records, fmt = sidecar.parent, meta.get("frames", []), meta.get("export_format")
    try:
        files = meta["files"]
        if fmt in ("exr", "exr-half"):
            frames = (_read_frame_file(folder / r["file"]) for r in records)
        elif fmt == "png16":
            frames = (_unmap(_read_png16(folder / r["file"]), r) for r in records)
        elif fmt == "video":
            from core.video.reader import read_grey16

            video = folder / files["video"]
            if not video.is_file():
                raise DepthshotError(f"{video}: the depth video named by {sidecar.name} is missing")
            frames = (_unmap(q, r) for (_, q), r in zip(read_grey16(video), records, strict=False))
        elif fmt == "npz":
            return _read_npz(folder / files["npz"])
        else:
            raise DepthshotError(f"{sidecar}: unknown export format {fmt!r}")
        masks = None
        if meta.get("mask"):
            masks = (_read_mask_png(folder / meta["mask"].format(number=r["number"])) for r in records)
        return ExternalDepth(
            len(records), frames, masks, kind=meta["kind"], quantity=meta["quantity"], fps=float(meta["fps"]),
            timestamps=[float(r["pts"]) for r in records], shots=[int(r["shot"]) for r in records],
            intrinsics=meta.get("intrinsics"), source=meta.get("source") or None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DepthshotError(f"{sidecar}: not a readable depthshot export sidecar ({exc})") from None


def _unmap(q: np.ndarray, record: dict[str, Any]) -> np.ndarray:
    """Stored 16-bit pixels -> values: ``offset + scale * pixel`` (float32)."""
    return (float(record["offset"]) + float(record["scale"]) * q.astype(np.float64)).astype(np.float32)


def _read_png16(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 2 or img.dtype != np.uint16:
        raise DepthshotError(f"{path}: missing or not a 16-bit single-channel PNG")
    return img


def _read_mask_png(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 2 or img.dtype != np.uint8:
        raise DepthshotError(f"{path}: missing or not an 8-bit validity mask")
    return img


def _npz_member_frames(path: Path, key: str) -> tuple[tuple[int, ...], Iterator[np.ndarray]]:
    """Shape of the [N, H, W] array ``key`` in the .npz ``path`` and an iterator over its frames, read from the
    zip member one frame at a time (flat memory for a film-length array)."""
    zf = zipfile.ZipFile(path)
    f = zf.open(f"{key}.npy")
    version = np.lib.format.read_magic(f)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(f)
    if fortran or len(shape) != 3 or dtype.hasobject:
        zf.close()
        raise DepthshotError(f"{path}: {key!r} must be a C-ordered numeric [N, H, W] array, got {shape}")

    def frames() -> Iterator[np.ndarray]:
        size = shape[1] * shape[2] * dtype.itemsize
        try:
            for _ in range(shape[0]):
                buf = f.read(size)
                if len(buf) != size:
                    raise DepthshotError(f"{path}: {key!r} is truncated")
                yield np.frombuffer(buf, dtype).reshape(shape[1:])
        finally:
            zf.close()

    return shape, frames()


def _read_npz(src: Path) -> ExternalDepth:
    try:
        with np.load(src, allow_pickle=False) as data:
            keys = set(data.files)
            key = "depths" if "depths" in keys else "depth" if "depth" in keys else None
            if key is None:
                raise DepthshotError(f"{src}: expected a 'depths' or 'depth' array [N, H, W]; it has {sorted(keys)}")
            meta = {k: data[k] for k in keys if k not in (key, "mask")}
        shape, frames = _npz_member_frames(src, key)
        masks = _npz_member_frames(src, "mask")[1] if "mask" in keys else None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DepthshotError(f"{src}: unreadable .npz ({exc})") from None
    ext = ExternalDepth(shape[0], (np.asarray(a, np.float32) for a in frames),
                        None if masks is None else (np.asarray(m, np.uint8) for m in masks))
    if "quantity" in meta:  # written by core.depth.export
        ext.quantity, ext.kind = str(meta["quantity"]), str(meta["kind"])
        ext.fps = float(meta["fps"])
        ext.timestamps = [float(t) for t in meta["timestamps"]]
        ext.shots = [int(s) for s in meta["shot"]]
        if meta["intrinsics"].size:
            k = meta["intrinsics"]
            ext.intrinsics = {"fx": float(k[0, 0]), "fy": float(k[1, 1]), "cx": float(k[0, 2]), "cy": float(k[1, 2])}
            if meta["distortion"].size:
                ext.intrinsics["distortion"] = [float(v) for v in meta["distortion"]]
    return ext


def import_depth(
    src: str | Path,
    out_pass: str | Path,
    *,
    scale: float = 1.0,
    kind: str | None = None,
    fps: float | None = None,
    video: str | Path | None = None,
    intrinsics: dict[str, Any] | None = None,
    max_frames: int | None = None,
    fill: bool = True,
    on_progress: OnProgress | None = None,
) -> DepthPass:
    """Import external depth frames into a depth pass; ``on_progress(stage, done, total)`` hears of the frames
    imported (stage "import depth").

    Args:
        src: folder of per-frame files, an ``.npz``, or a depthshot export (see the module docstring).
        out_pass: the pass folder to create.
        scale: file value / scale = raw value (metres for metric depth).
        kind: ``metric_depth`` or ``relative_inverse_depth`` (default: what an export says, else metric).
        fps: frame rate when neither a ``video`` nor the files give one (default 30).
        video: the RGB video the depth belongs to (recorded as the pass's source); frame ``i`` gets the time of
            the video's frame ``i`` (exact for variable frame rate) and the pass the video's average rate.
        intrinsics: fx, fy, cx, cy in pixels of the camera (optional ``distortion``), when known.
        max_frames: import only the first N frames.
        fill: fill holes (zeros) with ``fill_holes`` (flagged ``FILLED`` in the mask), else keep them (``EMPTY``).
            Ignored for a depthshot export, whose own validity masks are kept.

    A depthshot export comes back with its shots, frame times, intrinsics and masks: a float export round-trips
    to the same pass, a normalised one to within a quantisation step.
    """
    if kind is not None and kind not in KINDS:
        raise DepthshotError(f"unknown depth kind {kind!r} (expected one of {', '.join(KINDS)})")
    if not scale > 0:
        raise DepthshotError(f"--scale must be positive, got {scale}")
    ext = read_external_depth(src)
    kind = kind or ext.kind or "metric_depth"
    count = ext.count if max_frames is None else min(ext.count, max_frames)
    if count < 1:
        raise DepthshotError(f"{src}: no depth frames")
    times = ext.timestamps
    fps = fps or ext.fps or 30.0
    source = str(video) if video is not None else (ext.source if ext.source and Path(ext.source).exists() else "")
    if video is not None:
        from core.video import frame_times, probe

        fps = probe(video).fps
        times = frame_times(video)  # the real times: a variable-frame-rate video is not evenly spaced
        if count > len(times):
            raise DepthshotError(f"{src}: {count} depth frames but {video} has only {len(times)} video frames")
    first = next(ext.frames)
    height, width = first.shape
    info = PassInfo(
        source=source,
        fps=float(fps),
        width=width,
        height=height,
        kind=kind,  # type: ignore[arg-type]
        model={"id": "external", "engine": "import", "source": Path(src).name, "scale": scale},
        intrinsics=intrinsics if intrinsics is not None else ext.intrinsics,
        mask_pattern=MASK_PATTERN,
    )
    writer = DepthPassWriter(out_pass, info, resume=False)
    shots = ext.shots or [0] * count
    all_frames = itertools.islice(itertools.chain([first], ext.frames), count)
    stage = Stage(on_progress, "import depth", count).begin()
    for i, raw in enumerate(all_frames):
        if raw.shape != (height, width):
            raise DepthshotError(f"{src}: frame {i} is {raw.shape[1]}x{raw.shape[0]}, frame 0 is {width}x{height}")
        if i == 0 or shots[i] != shots[i - 1]:
            if i:
                writer.end_shot()
            writer.begin_shot(i)
        depth = raw / np.float32(scale)
        if ext.quantity == "metric_inverse_depth":
            with np.errstate(divide="ignore"):
                depth = np.where(depth > 0, 1 / depth, 0).astype(np.float32)
        pts = times[i] if times is not None else i / fps
        if ext.masks is not None:
            writer.write(i, np.where(np.isfinite(depth), depth, 0).astype(np.float32), pts=pts, mask=next(ext.masks))
        elif fill:
            holes = hole_mask(depth)
            writer.write(i, fill_holes(depth, kind), pts=pts, mask=np.where(holes, FILLED, 0).astype(np.uint8))
        else:
            holes = hole_mask(depth)
            depth[holes] = 0.0  # non-finite values cannot be stored
            writer.write(i, depth, pts=pts, mask=np.where(holes, EMPTY, 0).astype(np.uint8))
        stage.update()
    writer.end_shot()
    return writer.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.depth.import_depth", description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="folder of depth frames (png/exr/npy), an .npz with a 'depths' or 'depth' array, "
                        "or a depthshot export")
    parser.add_argument("-o", "--output", required=True, help="depth pass folder to create")
    parser.add_argument("--scale", type=float, default=1.0, help="file value / scale = raw value (default 1)")
    parser.add_argument("--kind", choices=KINDS, help="what the values are (default: what a depthshot export "
                        "says, else metric_depth)")
    parser.add_argument("--video", help="the RGB video the depth belongs to")
    parser.add_argument("--fps", type=float, help="frame rate when neither --video nor the files give one (30)")
    parser.add_argument("--intrinsics", help="JSON file with fx, fy, cx, cy in pixels [and distortion]")
    parser.add_argument("--frames", type=int, help="import only the first N frames")
    parser.add_argument("--no-fill", action="store_true", help="keep holes (zeros) as they are (flagged EMPTY)")
    args = parser.parse_args(argv)
    setup_logging()
    intrinsics = read_intrinsics_file(args.intrinsics) if args.intrinsics else None
    with StageBars() as bars:
        dp = import_depth(
            args.src, args.output, scale=args.scale, kind=args.kind, fps=args.fps, video=args.video,
            intrinsics=intrinsics, max_frames=args.frames, fill=not args.no_fill, on_progress=bars,
        )
    print(f"wrote {len(dp)} frames to {dp.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
