"""Import external depth (a depth sensor's 16-bit PNGs, another tool's EXR or npz output) into a depth pass.

    python -m core.depth.import_depth SRC -o PASS [--scale 5000] [--kind metric_depth] [--video rgb.mp4] [--fps 30]
        [--intrinsics intrinsics.json] [--frames N] [--no-fill]

SRC is a folder of per-frame files (``*.png`` uint16, ``*.exr`` with a ``Z`` or single channel, ``*.npy``), sorted
by name, or one ``.npz`` holding a ``depth`` array ``[N, H, W]``. Raw value = file value / ``scale`` (a Kinect's
16-bit PNG in 1/5000 m: ``--scale 5000``). Zeros (and non-finite values) are holes: by default they are filled from
the farther side of their border (see ``fill_holes``), because sensor holes sit mostly in the shadow that a near
object casts on the background. Every pass it writes carries a validity mask (see ``core.depth.depth_pass``):
filled pixels are flagged ``FILLED``, holes kept with ``--no-fill`` ``EMPTY``. The pass is written as one shot.

``--intrinsics`` is a JSON file with ``fx``, ``fy``, ``cx``, ``cy`` in pixels and optionally OpenCV distortion
coefficients ``distortion`` ``[k1, k2, p1, p2, k3]`` (TUM's key ``distortion_k1_k2_p1_p2_k3`` is read too).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import OpenEXR
from tqdm import tqdm

from core.atomic import finished_files
from core.cli import run_main, setup_logging
from core.depth.depth_pass import EMPTY, FILLED, KINDS, MASK_PATTERN, DepthPass, DepthPassWriter, PassInfo
from core.errors import DepthshotError

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


def read_external_depth(src: str | Path) -> tuple[int, Iterator[np.ndarray]]:
    """Open external depth: returns (frame count, iterator of float32 [H, W] file values, unscaled)."""
    src = Path(src)
    if src.is_dir():
        files = _frame_files(src)
        return len(files), (_read_frame_file(p) for p in files)
    if src.suffix.lower() == ".npz":
        try:
            data = np.load(src, allow_pickle=False)
            arr = data["depth"]
        except (OSError, ValueError, KeyError) as exc:
            raise DepthshotError(f"{src}: expected an .npz with a 'depth' array [N, H, W] ({exc})") from None
        if arr.ndim != 3:
            raise DepthshotError(f"{src}: 'depth' must be [N, H, W], got {arr.shape}")
        return arr.shape[0], (np.asarray(f, dtype=np.float32) for f in arr)
    if not src.exists():
        raise DepthshotError(f"{src}: no such file or folder")
    raise DepthshotError(f"{src}: expected a folder of depth frames or an .npz file")


def import_depth(
    src: str | Path,
    out_pass: str | Path,
    *,
    scale: float = 1.0,
    kind: str = "metric_depth",
    fps: float = 30.0,
    video: str | Path | None = None,
    intrinsics: dict[str, Any] | None = None,
    max_frames: int | None = None,
    fill: bool = True,
) -> DepthPass:
    """Import external depth frames into a depth pass (one shot).

    Args:
        src: folder of per-frame files or an ``.npz`` (see the module docstring).
        out_pass: the pass folder to create.
        scale: file value / scale = raw value (metres for metric depth).
        kind: ``metric_depth`` or ``relative_inverse_depth``.
        fps: frame rate when there is no ``video`` to take it and the timestamps from.
        video: the RGB video the depth belongs to (recorded as the pass's source; its frame rate is used).
        intrinsics: fx, fy, cx, cy in pixels of the camera (optional ``distortion``), when known.
        max_frames: import only the first N frames.
        fill: fill holes (zeros) with ``fill_holes`` (flagged ``FILLED`` in the mask), else keep them (``EMPTY``).
    """
    if kind not in KINDS:
        raise DepthshotError(f"unknown depth kind {kind!r} (expected one of {', '.join(KINDS)})")
    if not scale > 0:
        raise DepthshotError(f"--scale must be positive, got {scale}")
    count, frames = read_external_depth(src)
    if max_frames is not None:
        count = min(count, max_frames)
    if video is not None:
        from core.video import probe

        fps = probe(video).fps
    first = next(frames)
    height, width = first.shape
    info = PassInfo(
        source=str(video) if video is not None else "",
        fps=float(fps),
        width=width,
        height=height,
        kind=kind,  # type: ignore[arg-type]
        model={"id": "external", "engine": "import", "source": Path(src).name, "scale": scale},
        intrinsics=intrinsics,
        mask_pattern=MASK_PATTERN,
    )
    writer = DepthPassWriter(out_pass, info, resume=False)
    writer.begin_shot(0)
    all_frames = itertools.islice(itertools.chain([first], frames), count)
    for i, raw in enumerate(tqdm(all_frames, total=count, desc="import depth", unit="frame")):
        if raw.shape != (height, width):
            raise DepthshotError(f"{src}: frame {i} is {raw.shape[1]}x{raw.shape[0]}, frame 0 is {width}x{height}")
        depth = raw / np.float32(scale)
        holes = hole_mask(depth)
        if fill:
            writer.write(i, fill_holes(depth, kind), pts=i / fps, mask=np.where(holes, FILLED, 0).astype(np.uint8))
        else:
            depth[holes] = 0.0  # non-finite values cannot be stored
            writer.write(i, depth, pts=i / fps, mask=np.where(holes, EMPTY, 0).astype(np.uint8))
    writer.end_shot()
    return writer.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.depth.import_depth", description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="folder of depth frames (png/exr/npy) or an .npz with a 'depth' array")
    parser.add_argument("-o", "--output", required=True, help="depth pass folder to create")
    parser.add_argument("--scale", type=float, default=1.0, help="file value / scale = raw value (default 1)")
    parser.add_argument("--kind", choices=KINDS, default="metric_depth")
    parser.add_argument("--video", help="the RGB video the depth belongs to")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate when no --video is given")
    parser.add_argument("--intrinsics", help="JSON file with fx, fy, cx, cy in pixels [and distortion]")
    parser.add_argument("--frames", type=int, help="import only the first N frames")
    parser.add_argument("--no-fill", action="store_true", help="keep holes (zeros) as they are (flagged EMPTY)")
    args = parser.parse_args(argv)
    setup_logging()
    intrinsics = read_intrinsics_file(args.intrinsics) if args.intrinsics else None
    dp = import_depth(
        args.src, args.output, scale=args.scale, kind=args.kind, fps=args.fps, video=args.video,
        intrinsics=intrinsics, max_frames=args.frames, fill=not args.no_fill,
    )
    print(f"wrote {len(dp)} frames to {dp.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
