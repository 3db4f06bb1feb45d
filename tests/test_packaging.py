"""The installed package: the ``depthshot`` console script (run as installed), the one version number, the licence,
the lock CI installs from agreeing with pyproject's ranges, extras reported in one line, and the shell scripts
staying POSIX (so bash 3.2 on macOS runs them)."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from core.commands import COMMANDS
from tests.shared_data import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SCRIPT = Path(sys.executable).parent / "depthshot"
CLIP = REPO / "assets" / "tum_desk.mp4"


def run(*argv: str | Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, check=False,
                          stdin=subprocess.DEVNULL, **kw)


def test_the_console_script_is_installed_and_lists_every_command():
    assert SCRIPT.is_file(), "depthshot is not installed next to this Python (pip install -e .)"
    res = run(SCRIPT, "--help")
    assert res.returncode == 0, res.stderr
    listed = [line.split()[0] for line in res.stdout.splitlines() if line.startswith("  ")]
    assert listed == list(COMMANDS) == ["depth", "stereo", "pointcloud", "mesh", "view", "import", "export", "poses",
                                        "video", "bench", "worker"]
    version = run(SCRIPT, "--version")
    assert version.stdout.strip() == f"depthshot {PYPROJECT['project']['version']}"


@pytest.mark.parametrize("name", [n for n in COMMANDS if n != "worker"])
def test_each_command_is_its_python_m_module(name):
    """``depthshot NAME --help`` prints the help of the module ``python -m`` runs."""
    module = COMMANDS[name][0].removesuffix(".__main__")
    m_argv = ["-m", "core.depth", "export", "--help"] if name == "export" else ["-m", module, "--help"]
    via_m = run(sys.executable, *m_argv)
    via_script = run(SCRIPT, name, "--help")
    assert via_script.returncode == via_m.returncode == 0, via_script.stderr[-2000:]
    assert via_script.stdout == via_m.stdout and via_script.stdout.startswith("usage: ")


def test_the_script_gives_the_same_output_and_errors_as_python_m(tmp_path):
    a, b = run(SCRIPT, "video", "info", CLIP), run(sys.executable, "-m", "core.video", "info", CLIP)
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout and '"width": 640' in a.stdout
    res = run(SCRIPT, "depth", tmp_path / "missing.mp4", "-o", tmp_path / "out")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and res.stderr.startswith("error: ")
    assert not (tmp_path / "out").exists()
    res = run(SCRIPT, "pointclouds")
    assert res.returncode == 2
    assert res.stderr.startswith("error: unknown command 'pointclouds' (expected one of depth, stereo, pointcloud,")


def test_help_imports_no_torch():
    code = ("import sys; from core.commands import main; main(['--help']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'cv2', 'av', 'open3d')))")
    res = run(sys.executable, "-c", code)
    assert res.returncode == 0 and res.stdout.strip().splitlines()[-1] == "[]"


def test_rollingdepth_without_its_extra_says_which_extra_to_install(tmp_path):
    """With diffusers hidden (``sys.modules[name] = None`` makes it unimportable), asking for the engine is one line
    naming the extra, before the output folder exists."""
    code = ("import sys; sys.modules['diffusers'] = None; from core.commands import main; "
            f"sys.exit(main(['depth', {str(CLIP)!r}, '-o', {str(tmp_path / 'out')!r}, '--engine', 'rollingdepth']))")
    res = run(sys.executable, "-c", code)
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr == ("error: the rollingdepth engine needs diffusers: install the [rollingdepth] extra "
                          "(pip install 'depthshot[rollingdepth]')\n")
    assert not (tmp_path / "out").exists()


def test_one_version_and_the_spdx_licence():
    import core

    version = PYPROJECT["project"]["version"]
    assert core.__version__ == importlib.metadata.version("depthshot") == version
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert (REPO / "LICENSE").read_text().split()[:3] == ["Apache", "License", "Version"]
    assert "Version 2.0, January 2004" in (REPO / "LICENSE").read_text()[:200]
    assert importlib.metadata.metadata("depthshot")["License-Expression"] == "Apache-2.0"


def _lock(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints" / name).read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            pkg, _, version = line.partition("==")
            pins[pkg.strip().lower().replace("_", "-")] = version.split(";")[0].strip()
    return pins


def test_the_ci_lock_satisfies_every_range_of_pyproject():
    """Every dependency of depthshot[dev] (on Linux x86_64, Python 3.11) is pinned in the lock inside its range,
    and numpy is the 2.x line; regenerate with ./constraints/compile.sh after changing a range."""
    pins = _lock("linux-py311.txt")
    env = {"sys_platform": "linux", "platform_machine": "x86_64", "python_version": "3.11",
           "python_full_version": "3.11.2", "extra": ""}
    extras = PYPROJECT["project"]["optional-dependencies"]
    reqs = [*PYPROJECT["project"]["dependencies"], *extras["rollingdepth"], *extras["ray"], *extras["dev"]]
    checked = 0
    for text in reqs:
        req = Requirement(text)
        if req.name == "depthshot" or (req.marker and not req.marker.evaluate(env)):
            continue
        name = req.name.lower().replace("_", "-")
        if name == "torch":  # pinned by setup.sh on its own (a CUDA build installed first is kept)
            assert name not in pins
            continue
        assert name in pins, f"{name} is not in constraints/linux-py311.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} outside {req.specifier}"
        checked += 1
    assert checked >= 15
    assert int(pins["numpy"].split(".")[0]) >= 2 and int(pins["opencv-python-headless"].split(".")[0]) == 4


def test_the_blender_test_lock_keeps_bpy_and_its_numpy():
    pins = _lock("blender-py311.txt")
    assert pins["bpy"] == "5.0.1" and pins["numpy"].startswith("1.26") and "torch" not in pins


@pytest.mark.skipif(shutil.which("dash") is None, reason="dash (a strict POSIX sh) is not installed")
@pytest.mark.parametrize("script", ["setup.sh", "test.sh", ".ci/run", "constraints/compile.sh"])
def test_the_shell_scripts_are_posix_so_bash_3_2_runs_them(script):
    """dash refuses arrays, [[ ]], mapfile's process substitution and other bash-4 syntax at parse time."""
    res = run("dash", "-n", REPO / script)
    assert res.returncode == 0, res.stderr
    text = "\n".join(line for line in (REPO / script).read_text().splitlines() if not line.lstrip().startswith("#"))
    for bashism in ("mapfile", "readarray", "declare -A", "${!", ",,}", "^^}", "|&", "&>>", "pipefail"):
        assert bashism not in text, f"{script} uses {bashism}"
