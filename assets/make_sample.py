"""Re-create the bundled sample: the first frames of TUM RGB-D fr1/xyz and their measured depth as a depth pass.

    python assets/make_sample.py [--frames 60] [--tum ../shared/data/tum_fr1_xyz] [--reencode]

The clip is re-encoded only when it is missing or with ``--reencode``; the depth pass is always re-imported (holes
filled and flagged in its validity mask, intrinsics with the lens distortion).

Source: TUM RGB-D benchmark, sequence rgbd_dataset_freiburg1_xyz (Sturm et al., IROS 2012), CC BY 4.0.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
from pathlib import Path

from core.depth.import_depth import import_depth, read_intrinsics_file
from core.video import EncodeSettings, VideoWriter, probe, read_frames

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--tum", type=Path, default=Path("../shared/data/tum_fr1_xyz"))
    parser.add_argument("--reencode", action="store_true", help="re-encode tum_desk.mp4 even if it exists")
    args = parser.parse_args()
    clip, depth_pass = HERE / "tum_desk.mp4", HERE / "tum_desk_depth"
    src = args.tum / "rgb.mp4"
    if args.reencode or not clip.exists():
        _encode(src, clip, args.frames)
    shutil.rmtree(depth_pass, ignore_errors=True)
    import_depth(args.tum / "depth", depth_pass, scale=5000.0, kind="metric_depth", video=clip,
                 intrinsics=read_intrinsics_file(args.tum / "intrinsics.json"), max_frames=args.frames)


def _encode(src: Path, clip: Path, frames: int) -> None:
    info = probe(src)
    with VideoWriter(clip, info.width, info.height, info.fps, EncodeSettings(codec="h264", crf=20, preset="slow"),
                     source=src, copy_audio=False, copy_subtitles=False) as writer:
        for frame in itertools.islice(read_frames(src), frames):
            writer.write(frame.image, frame.pts)


if __name__ == "__main__":
    main()
