"""Faults of a ``--ray`` depth job on a real local Ray (2 CPUs): a worker ``kill -9``-ed in the middle of its shot is
retried by Ray and resumes inside the shot; the driver ``kill -9``-ed mid-run and started again with the same command
keeps what is on disk. Both give the single-process pass byte for byte, with nothing of the killed runs left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.atomic import is_partial
from core.bench.soak import tree_digest
from core.cluster import RayOptions
from core.depth import run_depth
from core.depth.depth_pass import DepthPass
from tests.cluster.conftest import ENGINE_ARGS, H, W, job
from tests.depth.videos import scene_frames, write_video
from tests.robust import ENV, REPO

pytest.importorskip("ray")

# the first shot has three windows (its engine state is saved once window 0's frames are out, when window 1 has
# run), the second shot one window
LONG, SHORT = 60, 16


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Output folders of this module, all at the same depth (the pass stores its source relatively)."""
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def two_shots(work) -> Path:
    frames = [*scene_frames(LONG, W, H, seed=5), *scene_frames(SHORT, W, H, seed=6)]
    return write_video(work / "two.mp4", frames)


@pytest.fixture(scope="module")
def reference(two_shots, vits_weights, work) -> dict[str, str]:
    """The single-process pass (file -> sha256)."""
    out = run_depth(job(two_shots, work / "one", vits_weights))
    assert [(s.start, s.end) for s in DepthPass.open(out).info.shots] == [(0, LONG), (LONG, LONG + SHORT)]
    return tree_digest(out)


def _task_pid(folder: Path) -> int | None:
    """The PID of the worker process that runs (or ran) the shot staged in ``folder`` (its ``task.json``)."""
    try:
        return int(json.loads((folder / "task.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class MidShotKiller(threading.Thread):
    """Kills (SIGKILL) the worker of the shot staged in ``folder`` once it is inside the shot: frames staged and
    the engine state of its first window saved, the shot not finished. Then records the PIDs of later attempts."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder, self.killed, self.staged_at_kill, self.pids = folder, None, [], []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.01):
            pid = _task_pid(self.folder)
            if pid is not None and pid not in self.pids:
                self.pids.append(pid)
            if (self.killed is None and pid is not None and (self.folder / "engine_state.npz").is_file()
                    and not (self.folder / "done.json").exists()):
                os.kill(pid, signal.SIGKILL)
                self.killed = pid
                self.staged_at_kill = sorted(p.name for p in self.folder.glob("0*.npy"))

    def stop(self) -> None:
        self._done.set()
        self.join()


@pytest.mark.slow
def test_a_worker_killed_mid_shot_is_retried_and_the_pass_is_unchanged(local_ray, two_shots, reference,
                                                                        vits_weights, work):
    from core.cluster import MAX_RETRIES
    from core.cluster.depth import run_depth_ray, stage_folder

    assert MAX_RETRIES >= 1
    out = work / "worker_killed"
    killer = MidShotKiller(stage_folder(out, 0))
    killer.start()
    try:
        run_depth_ray(job(two_shots, out, vits_weights), RayOptions())
    finally:
        killer.stop()
    assert killer.killed is not None, "the shot finished before the killer saw it mid-way"
    assert killer.staged_at_kill  # the kill came after frames were staged: the retry rewrote a half-staged shot
    assert not _alive(killer.killed)
    assert killer.pids[0] == killer.killed and len(killer.pids) >= 2  # retried by Ray in another worker process
    assert tree_digest(out) == reference  # every PNG and the manifest; no staging, no temporary file left


def _first_progress(stdout: str) -> dict:
    return json.loads(next(line for line in stdout.splitlines() if line.startswith("{")))


@pytest.mark.slow
def test_the_driver_killed_mid_run_then_the_same_command_resumes(local_ray, two_shots, reference, vits_weights,
                                                                   work):
    out = work / "driver_killed"
    address = local_ray.get_runtime_context().gcs_address  # the command joins the test's instance as a cluster
    argv = [sys.executable, "-m", "core.depth", str(two_shots), "-o", str(out), "--weights", str(vits_weights),
            *ENGINE_ARGS, "--ray", address, "--progress", "jsonl"]
    env = {**ENV, **{k: v for k, v in os.environ.items() if k.startswith("RAY_AUTH")}}  # the instance's token mode
    stages = out / ".work" / "cluster"
    with open(work / "killed.log", "w") as log:
        driver = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 240
        while not list(stages.glob("shot_*/done.json")) and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        driver.kill()
        driver.wait()
    assert not (out / "depth_pass.json").exists(), "the run finished before the kill"
    assert driver.returncode == -signal.SIGKILL, (work / "killed.log").read_text()[-3000:]
    staged = sorted(int(f.parent.name.removeprefix("shot_")) for f in stages.glob("shot_*/done.json"))
    recorded = json.loads((out / ".work" / "progress.json").read_text())["shots"]  # shots in the pass already
    done = recorded[-1]["end"] if recorded else 0
    pngs = {p.name: p.stat().st_mtime_ns for p in (out / "depth").glob("*.png") if not is_partial(p)}
    assert staged, (work / "killed.log").read_text()[-3000:]

    rerun = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert tree_digest(out) == reference  # byte-identical, no staging and no temporary file left
    assert not any(is_partial(p) for p in out.rglob("*"))
    resumed_at = _first_progress(rerun.stdout)["frames_done"]  # frames already in the pass: not computed again
    assert resumed_at >= done
    reused = [start for start in staged if start >= done]  # staged when the driver died, not yet in the pass
    for start in reused:  # fed from its stage, not computed again
        end = LONG if start == 0 else LONG + SHORT
        assert f"frames {start}-{end - 1} staged by an earlier run: reused" in rerun.stderr
    assert reused or done > 0
    assert {n: (out / "depth" / n).stat().st_mtime_ns for n in pngs} == pngs  # frames written before: kept
