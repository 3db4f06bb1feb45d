"""The viewer follows a world-space sequence along the pass's poses and shows it as filmed (the pass's lens)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from core import pointcloud as pointcloud_cli
from core.cli import run_main
from core.geometry.poses import write_tum
from tests.geometry.conftest import make_pass
from tests.geometry.moving import K, exact_poses, render

ROOT = Path(__file__).resolve().parents[2]


def test_screenshots_follow_the_trajectory_as_filmed(tmp_path):
    poses = exact_poses(6)
    frames = [render(p) for p in poses]
    intr = {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy}
    dp = make_pass(tmp_path, [d for _, d in frames], images=[im for im, _ in frames], intrinsics=intr)
    write_tum(tmp_path / "exact.txt", np.array(dp.info.timestamps), poses)
    assert run_main(pointcloud_cli.main, [str(dp.root), "-o", str(tmp_path / "world"),
                                          "--poses", str(tmp_path / "exact.txt"), "--frames", "0,5"]) == 0
    from core import poses as poses_cli

    assert run_main(poses_cli.main, [str(dp.root), "-o", str(tmp_path / "p.txt"),
                                     "--import", str(tmp_path / "exact.txt")]) == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shots = {}
    for name, extra in (("follow", ["--follow"]), ("fixed", [])):
        cmd = [sys.executable, "-m", "core.viewer", str(tmp_path / "world"), "--screenshots", str(tmp_path / name),
               "--pass", str(dp.root), "--size", f"{K.width}x{K.height}", "--point-size", "1", *extra]
        run = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        shots[name] = cv2.imread(str(tmp_path / name / "000005.png"))[..., ::-1].astype(np.int32)
    filmed = frames[5][0].astype(np.int32)
    # following the trajectory with the pass's lens, frame 5 looks as its camera filmed it; from frame 0's
    # camera it does not
    err_follow = np.median(np.abs(shots["follow"] - filmed))
    err_fixed = np.median(np.abs(shots["fixed"] - filmed))
    assert err_follow < 12 and err_fixed > 2 * err_follow
