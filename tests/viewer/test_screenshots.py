"""``python -m core.viewer DIR --screenshots OUT``, run in a subprocess: Open3D's renderer aborts the whole
process when no Vulkan driver is installed (Mesa's ``mesa-vulkan-drivers`` provides one for CPUs)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.cli import run_main
from core.viewer.__main__ import main
from tests.viewer.clouds import red_mask, write_squares

ROOT = Path(__file__).resolve().parents[2]
W, H = 160, 120
SQUARES = [(slice(30, 90), slice(10, 70)), (slice(30, 90), slice(90, 150))]  # frame 0 left, frame 1 right


def write_sequence(folder: Path) -> None:
    """Two clouds: a red 60x60 pixel square, left then right."""
    write_squares(folder, SQUARES, (W, H))


def test_screenshots_show_each_cloud_where_the_camera_filmed_it(tmp_path):
    write_sequence(tmp_path / "clouds")
    cmd = [sys.executable, "-m", "core.viewer", str(tmp_path / "clouds"), "--screenshots", str(tmp_path / "shots"),
           "--size", f"{W}x{H}"]
    run = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == ["000000.png", "000001.png"]
    for i, (rows, cols) in enumerate(SQUARES):
        image = cv2.imread(str(tmp_path / "shots" / f"{i:06d}.png"))[..., ::-1]
        assert image.shape == (H, W, 3)
        red = red_mask(image)
        expected = np.zeros((H, W), bool)
        expected[rows, cols] = True
        # the square is where it was filmed (rendered with the same lens from the recording camera)
        assert (red & expected).sum() >= 0.95 * expected.sum()
        assert (red & ~expected).sum() <= 0.02 * expected.sum()
        near = np.zeros((H, W), bool)
        near[rows.start - 2 : rows.stop + 2, cols.start - 2 : cols.stop + 2] = True
        assert image[~near].max() < 60  # away from the square's border (points are 2 px wide): background


def test_screenshots_report_progress_through_the_callback(tmp_path):
    """The library draws no bar: each file is reported to ``on_progress`` (in a subprocess, as Open3D may abort)."""
    write_sequence(tmp_path / "clouds")
    code = (
        "import sys, json; from pathlib import Path\n"
        "from core.viewer.screenshots import render_screenshots\n"
        "from core.viewer.camera import View\n"
        "seen = []\n"
        "files = sorted(Path(sys.argv[1]).glob('*.ply'))\n"
        "out = render_screenshots(files, Path(sys.argv[2]), View(size=(160, 120)),"
        " on_progress=lambda *a: seen.append(list(a)))\n"
        "print(json.dumps({'seen': seen, 'out': [p.name for p in out]}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "clouds"), str(tmp_path / "shots")], check=False,
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["seen"] == [["screenshots", 0, 2], ["screenshots", 1, 2], ["screenshots", 2, 2]]
    assert report["out"] == ["000000.png", "000001.png"]
    assert "frame/s" not in run.stderr and "it/s" not in run.stderr  # no tqdm bar from the library


def test_viewer_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "none").mkdir()
    assert run_main(main, [str(tmp_path / "none"), "--screenshots", str(tmp_path / "s")]) == 2
    assert "no .ply point clouds" in capsys.readouterr().err
    assert run_main(main, [str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    write_sequence(tmp_path / "clouds")
    assert run_main(main, [str(tmp_path / "clouds"), "--screenshots", str(tmp_path / "s"), "--fov", "0"]) == 2
    assert "field of view" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_missing_vulkan_driver_is_a_clear_error(monkeypatch):
    from core.viewer import screenshots

    monkeypatch.setattr(screenshots, "_ICD_DIRS", ("/nonexistent",))
    monkeypatch.delenv("VK_ICD_FILENAMES", raising=False)
    monkeypatch.delenv("VK_DRIVER_FILES", raising=False)
    with pytest.raises(screenshots.DepthshotError, match="mesa-vulkan-drivers"):
        screenshots.check_vulkan()
