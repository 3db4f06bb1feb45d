"""Make the README's overview picture from the bundled sample: input frame | depth | red-cyan stereo frame.

    python assets/make_readme_images.py [--frame 30]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from core.depth.depth_pass import DepthPass
from core.depth.preview import colorize_frame
from core.stereo.convert import StereoJob, run_stereo
from core.video import read_frames

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frame", type=int, default=30)
    args = parser.parse_args()
    clip, depth = HERE / "tum_desk.mp4", HERE / "tum_desk_depth"
    rgb = next(f.image for f in read_frames(clip) if f.index == args.frame)
    dp = DepthPass.open(depth)
    coloured = colorize_frame(dp.read(args.frame), dp.shot_of(args.frame), dp.info.kind)
    with tempfile.TemporaryDirectory() as tmp:
        preview = Path(tmp) / "anaglyph.png"
        run_stereo(StereoJob(input=clip, depth=depth, layout="anaglyph", preview_frame=args.frame, preview=preview))
        anaglyph = cv2.cvtColor(cv2.imread(str(preview)), cv2.COLOR_BGR2RGB)
    gap = np.full((rgb.shape[0], 8, 3), 255, np.uint8)
    strip = np.concatenate([rgb, gap, coloured, gap, anaglyph], axis=1)
    half = cv2.resize(strip, (strip.shape[1] // 2, strip.shape[0] // 2), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(HERE / "readme" / "overview.png"), cv2.cvtColor(half, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
