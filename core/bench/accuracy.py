"""``python -m core.bench accuracy PASS``: score a depth pass against the TUM RGB-D fr1_xyz clip.

AbsRel and delta1 follow ``core.metrics.depth`` (per-video least-squares scale/shift in inverse depth, pixels with
measured depth only); TAE follows ``core.metrics.temporal`` on the aligned depth, with the clip's poses and
intrinsics, over the pixels with measured depth in the source frame. A pass of another size is resized (bilinear)
to the 640x480 ground truth; a pass with fewer frames is scored on its frames only.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from core.depth.depth_pass import DepthPass
from core.errors import DepthshotError
from core.metrics import evaluate_video, pose_matrix, tae
from core.metrics.depth import to_inverse

from core.bench._fixtures import add_tum_argument, default_tum


class TumClip:
    """The clip's measured depth (metres, 0 = none), world-from-camera poses and intrinsics."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        try:
            self.intrinsics = json.loads((self.root / "intrinsics.json").read_text())
            rows = [line.split() for line in (self.root / "frames.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
        except OSError as exc:
            raise DepthshotError(f"{self.root}: not the TUM clip folder ({exc.strerror})") from None
        self.poses = [pose_matrix(np.array(r[3:6], float), np.array(r[6:10], float)) for r in rows]
        self.rgb_times = np.array([float(r[1]) for r in rows])  # seconds; the poses are the mocap's nearest these
        self.depth_times = np.array([float(r[2]) for r in rows])  # when each depth frame was captured
        self.scale = float(self.intrinsics["depth_scale"])

    def __len__(self) -> int:
        return len(self.poses)

    def k(self) -> np.ndarray:
        """3x3 intrinsics in pixels."""
        i = self.intrinsics
        return np.array([[i["fx"], 0, i["cx"]], [0, i["fy"], i["cy"]], [0, 0, 1.0]])

    def depth(self, i: int) -> np.ndarray:
        """Measured depth of frame ``i``: float64 [480, 640] metres, 0 where there is none."""
        img = cv2.imread(str(self.root / "depth" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise DepthshotError(f"{self.root}: depth frame {i} is missing")
        return img.astype(np.float64) / self.scale


def score(dp: DepthPass, clip: TumClip) -> dict[str, float]:
    """AbsRel, delta1, TAE (and the fitted alignment) of a pass against the clip."""
    n = min(len(dp), len(clip))
    if n < 2:
        raise DepthshotError("the depth pass needs at least 2 frames")
    size = (int(clip.intrinsics["width"]), int(clip.intrinsics["height"]))
    metric = dp.info.kind == "metric_depth"

    def pred(i: int) -> np.ndarray:
        d = dp.read(i)
        return d if (d.shape[1], d.shape[0]) == size else cv2.resize(d, size, interpolation=cv2.INTER_LINEAR)

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(n):
            yield pred(i), clip.depth(i)

    scores = evaluate_video(pairs, metric=metric)
    align = scores.alignment
    aligned = (align.depth(to_inverse(pred(i), metric)) for i in range(n))
    masks = (clip.depth(i) > 0 for i in range(n))
    t = tae(aligned, clip.poses[:n], clip.k(), masks)
    return {"frames": n, "abs_rel": scores.abs_rel, "delta1": scores.delta1, "tae": t,
            "scale": align.scale, "shift": align.shift}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench accuracy", description=__doc__)
    p.add_argument("depth_pass", type=Path, help="depth pass folder computed from the clip's rgb.mp4")
    add_tum_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = p.parse_args(argv)
    args.data = args.data or default_tum()
    result = score(DepthPass.open(args.depth_pass), TumClip(args.data))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.depth_pass} vs {args.data.name}: {result['frames']} frames")
        print(f"AbsRel {result['abs_rel']:.4f}   delta1 {result['delta1']:.4f}   TAE {result['tae']:.4f}   "
              f"(inverse-depth fit: scale {result['scale']:.4g}, shift {result['shift']:.4g})")
    return 0
