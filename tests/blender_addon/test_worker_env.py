"""Create Worker Environment: the plan pins torch and installs the depthshot matching the add-on; the job runs its
steps in the background (poll never blocks), reports progress, fails with the step's last line, and cancels."""

import subprocess
import sys
import time
import tomllib

import pytest

from blender_addon import worker_env

from .conftest import REPO, WORKER_PYTHON


def test_the_plan_pins_torch_and_installs_only_the_matching_depthshot(tmp_path):
    version = worker_env.addon_version(REPO / "blender_addon" / "blender_manifest.toml")
    # the one version number is pyproject's; Blender's manifest must carry the same literal
    assert version == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert worker_env.package_spec("", version) == f"depthshot=={version}"
    assert worker_env.package_spec(str(REPO), version) == str(REPO)  # a checkout the user points at
    for bad in ("depthshot", "torch", str(tmp_path / "missing.whl"), str(tmp_path)):
        with pytest.raises(ValueError):
            worker_env.package_spec(bad, version)
    steps = worker_env.plan("/usr/bin/python3", tmp_path / "env", "depthshot==0.1.0")
    install = next(s.argv for s in steps if "install" in s.argv)
    assert install[install.index("-c") + 1] == str(tmp_path / "env" / "constraints.txt")
    assert install[-1] == "depthshot==0.1.0" and not any(a.startswith("torch") for a in install)


def test_the_pin_step_keeps_an_installed_torch_or_pins_the_readme_version(tmp_path):
    steps = worker_env.plan(WORKER_PYTHON, tmp_path / "env", "x")
    pin = steps[1].argv
    (tmp_path / "env").mkdir()  # what the venv step makes
    for python, expected in ((WORKER_PYTHON, None), ("/usr/bin/python3", "torch==2.13.0")):
        job = worker_env.EnvJob([worker_env.Step("pin", [python, *pin[1:]])])
        while not job.poll().finished:
            time.sleep(0.05)
        assert job.state.error is None, job.state.tail
        written = (tmp_path / "env" / "constraints.txt").read_text().strip()
        if expected is None:  # the worker's environment has torch: its own version is kept
            torch_version = subprocess.run([WORKER_PYTHON, "-c", "import torch; print(torch.__version__)"],
                                           capture_output=True, text=True, check=True).stdout.strip()
            assert written == f"torch=={torch_version.split('+')[0]}"
        else:
            assert written == expected


def test_the_job_runs_in_the_background_reports_fails_and_cancels(tmp_path):
    py = sys.executable
    job = worker_env.EnvJob([
        worker_env.Step("first", [py, "-c", "print('one', flush=True)"]),
        worker_env.Step("second", [py, "-c", "import time; print('two', flush=True); time.sleep(1)"]),
    ])
    t0 = time.monotonic()
    state = job.poll()
    assert time.monotonic() - t0 < 0.2 and not state.finished  # poll does not wait for the step
    labels = set()
    while not job.poll().finished:
        labels.add(job.state.describe())
        time.sleep(0.02)
    assert job.state.error is None and job.state.describe() == "ready"
    assert "2/2 second: two" in labels

    job = worker_env.EnvJob([worker_env.Step("installing depthshot", [py, "-c",
                                                                     "print('ERROR: no matching distribution'); raise SystemExit(1)"])])
    while not job.poll().finished:
        time.sleep(0.02)
    assert job.state.error == "installing depthshot failed (status 1): ERROR: no matching distribution"

    job = worker_env.EnvJob([worker_env.Step("slow", [py, "-c", "import time; time.sleep(600)"])])
    t0 = time.monotonic()
    job.cancel()
    assert job.state.cancelled and job.state.finished and time.monotonic() - t0 < 6
    assert job._proc.poll() is not None


def test_the_operator_refuses_a_bare_package_name_in_one_line(addon):
    import bpy

    from .conftest import prefs

    system = bpy.context.preferences.system
    assert not bpy.ops.depthshot.create_worker_env.poll()  # Online Access off: not offered
    system.use_online_access = True
    try:
        prefs().pip_spec = "depthshot"
        with pytest.raises(RuntimeError, match="point at a depthshot wheel"):
            bpy.ops.depthshot.create_worker_env()
    finally:
        prefs().pip_spec = ""
        system.use_online_access = False
    assert not (__import__("pathlib").Path(bpy.utils.extension_path_user(addon.__name__)) / "worker-venv").exists()
