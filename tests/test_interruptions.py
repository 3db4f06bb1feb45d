"""Interrupted, concurrent and out-of-space runs of depth, stereo and point clouds, through the real commands.

Every rerun must complete and equal an uninterrupted run byte for byte (hidden files included: nothing of the
interrupted run stays). ``python -m core.bench soak`` is the same kill-anywhere check with 100 kills per command.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.bench._forkrun import ForkRunner
from core.bench.soak import COMMANDS, REPO, _env, command_argv, make_inputs, soak_command, tree_digest
from tests.robust import one_error_line, snapshot


@pytest.fixture(scope="module")
def soak_inputs(tmp_path_factory, vits_weights) -> dict[str, Path]:
    return make_inputs(tmp_path_factory.mktemp("soak"), vits_weights)


@pytest.fixture(scope="module")
def runner():
    """The fork server the kill tests start their runs from (kills land in the work, not in the imports)."""
    r = ForkRunner(env=_env(), cwd=REPO)
    yield r
    r.close()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Output folders of this module, all at the same depth (the depth pass stores its source relatively)."""
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def references(soak_inputs, work) -> dict[str, dict[str, str]]:
    """Each command's uninterrupted output (file -> sha256), computed once."""
    refs = {}
    for name in COMMANDS:
        out = work / f"ref_{name}"
        out.mkdir()
        r = _run(command_argv(name, soak_inputs)(out))
        assert r.returncode == 0, r.stderr
        refs[name] = tree_digest(out)
    return refs


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=900)


def _start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *argv], cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("name, kills", [("depth", 1), ("stereo", 2), ("pointcloud", 2)])
def test_kill_anywhere_then_rerun_is_identical(soak_inputs, work, runner, name, kills):
    seed = int(os.environ.get("DEPTHSHOT_KILL_SEED", time.time_ns() % 10**6))
    result = soak_command(name, command_argv(name, soak_inputs), work / f"soak_{name}", kills, random.Random(seed),
                          runner)
    assert result.identical == kills, f"seed {seed}: {result.failures}"


def test_second_run_on_a_busy_output_is_refused_and_a_killed_holder_is_taken_over(soak_inputs, work, references):
    out = work / "busy"
    out.mkdir()
    argv = command_argv("depth", soak_inputs)(out)
    lock = out / "p" / ".lock"
    holder = _start(argv)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (lock.is_file() and lock.read_text().strip()):
        time.sleep(0.05)
    assert holder.poll() is None, "the first run ended before it could be paused"
    holder.send_signal(signal.SIGSTOP)  # hold it mid-run, whatever the machine's load
    second = _run(argv)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"in use by another run (PID {holder.pid})" in one_error_line(second.stderr.splitlines()[-1])
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    third = _run(argv)  # the kernel released the lock with the process: this run takes it and resumes
    assert third.returncode == 0, third.stderr
    assert tree_digest(out) == references["depth"]


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.parametrize("name, size", [("depth", "96k"), ("stereo", "16k"), ("pointcloud", "256k")])
def test_full_disk_is_one_line_and_the_same_command_resumes(soak_inputs, work, references, name, size):
    out = work / f"full_{name}"
    if not _mount_tmpfs(out, size):
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights)")
    try:
        argv = command_argv(name, soak_inputs)(out)
        full = _run(argv)
        assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr
        line = one_error_line(full.stderr.splitlines()[-1])
        assert "no space left" in line and "resumes" in line and "MB" in line
        subprocess.run(["mount", "-o", "remount,size=64m", str(out)], check=True)
        again = _run(argv)
        assert again.returncode == 0, again.stderr
        assert tree_digest(out) == references[name]
    finally:
        subprocess.run(["umount", str(out)], capture_output=True)


@pytest.mark.parametrize("name, n", [("depth", 40), ("stereo", 10), ("stereo", 21), ("pointcloud", 18)])
def test_disk_full_at_the_nth_write_is_one_line_and_the_same_command_resumes(soak_inputs, work, references, runner,
                                                                              name, n):
    """Where no tmpfs can be mounted: the disk fills at the command's n-th file (``tests.enospc``; depth writes 79,
    stereo 21, the last its join, point clouds 36), then has room again."""
    out = work / f"enospc_{name}_{n}"
    out.mkdir()
    argv = command_argv(name, soak_inputs)(out)
    before = snapshot(soak_inputs["clip"], soak_inputs["pass"])
    full = runner.run("tests.enospc", [str(n), *argv])
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr
    line = one_error_line(full.stderr.splitlines()[-1])
    assert "no space left" in line and "resumes" in line
    again = runner.run(argv[0], argv[1:])
    assert again.returncode == 0, again.stderr
    assert tree_digest(out) == references[name]
    assert snapshot(soak_inputs["clip"], soak_inputs["pass"]) == before


def test_depth_resumed_at_the_start_of_its_second_shot(tmp_path, vits_weights):
    """Interrupted right after the second shot began (its first frames staged, no engine state yet): the rerun
    continues that shot instead of failing with "shot starting at frame 18 has no frames"."""
    from core.depth import DepthJob, run_depth

    inputs = make_inputs(tmp_path, vits_weights)
    job = lambda out: DepthJob(input=inputs["clip"], output=out, model="vda-s", weights=vits_weights,  # noqa: E731
                               input_size=70, device="cpu")
    ref = run_depth(job(tmp_path / "ref"))
    from core.depth.depth_pass import DepthPass

    assert [(s.start, s.end) for s in DepthPass.open(ref).info.shots] == [(0, 18), (18, 36)]

    def stop(p):
        if p.stage == "depth" and p.frames_done > 18:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_depth(job(tmp_path / "cut"), on_progress=stop)
    out = run_depth(job(tmp_path / "cut"))
    assert tree_digest(out) == tree_digest(ref)


def test_a_finished_stereo_job_run_again_does_nothing(soak_inputs, work, references):
    out = work / "ref_stereo"
    video = out / "s.mp4"
    stamp = video.stat().st_mtime_ns
    again = _run(command_argv("stereo", soak_inputs)(out))
    assert again.returncode == 0 and "already holds this job's finished video" in again.stderr
    assert video.stat().st_mtime_ns == stamp and tree_digest(out) == references["stereo"]
