"""core.cli: the commands' shared exit conventions, driven through a real command in a child process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core.cli import EXIT_BROKEN_PIPE

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """``depthshot video info X | head -0``: stdout's pipe is closed before the command prints; the command exits
    with the shell's SIGPIPE status and no traceback."""
    child = subprocess.Popen([sys.executable, "-m", "core.video", "info", str(ASSETS / "tum_desk.mp4")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # the reader is gone long before the child has imported anything
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) == EXIT_BROKEN_PIPE
    assert stderr == ""


def test_the_same_command_prints_when_someone_reads():
    done = subprocess.run([sys.executable, "-m", "core.video", "info", str(ASSETS / "tum_desk.mp4")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"width": 640' in done.stdout
