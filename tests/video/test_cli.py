"""``python -m core.video``: real runs, and one-line errors with exit status 2 for bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import run_main
from core.video.__main__ import main

from .media import write_video

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core.video", *args], cwd=ROOT, capture_output=True, text=True)


def test_info_and_transcode(tmp_path: Path) -> None:
    src = write_video(tmp_path / "src.mp4", frames=20, fps=10, audio="aac", subtitles=True)
    info = _run("info", str(src))
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["frame_count"] == 20
    out = tmp_path / "out.mkv"
    done = _run("transcode", str(src), str(out), "--preset", "ultrafast", "--start", "0.5", "--size", "32x24")
    assert done.returncode == 0, done.stderr
    fields = json.loads(_run("info", str(out)).stdout)
    assert (fields["width"], fields["height"], fields["audio_streams"], fields["subtitle_streams"]) == (32, 24, 1, 1)
    missing = _run("info", str(tmp_path / "missing.mp4"))
    assert (missing.returncode, missing.stderr.strip()) == (2, f"error: {tmp_path / 'missing.mp4'}: no such file")


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda d: d / "folder", ("info",), "no such file"),
        (lambda d: (d / "text.mp4").write_text("hello\n" * 100) and d / "text.mp4", ("info",), "not a video"),
        (lambda d: write_video(d / "v.mp4", frames=3), ("transcode", "{src}", "{src}"), "refusing to write onto"),
        (lambda d: write_video(d / "v.mp4", frames=3), ("transcode", "{src}", "{dir}/o.mp4", "--size", "33x24"), "even"),
        (lambda d: write_video(d / "v.mp4", frames=3), ("transcode", "{src}", "{dir}/no/o.mp4"), "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, make, args, message: str) -> None:
    src = make(tmp_path)
    argv = [a.format(src=src, dir=tmp_path) for a in args]
    if "{src}" not in args:
        argv.append(str(src))
    assert run_main(main, argv) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ") and message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob(".*partial*")) and not (tmp_path / "o.mp4").exists()
