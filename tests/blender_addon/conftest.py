"""Headless Blender (the ``bpy`` wheel) with the add-on built by Blender's own extension tool and installed.

``BLENDER_USER_RESOURCES`` must point at a scratch folder before ``bpy`` is imported, so installing the
extension never touches the real user configuration.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import av
import numpy as np
import pytest

from core.depth.depth_pass import DepthPassWriter, PassInfo

REPO = Path(__file__).resolve().parents[2]
# the worker the add-on launches runs in the core's environment (.venv, with torch), not in Blender's
WORKER_PYTHON = os.environ.get("DEPTHSHOT_WORKER_PYTHON") or (
    str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable)
# the add-on's tests run in their own environment, as Blender has its own Python: .venv-blender (setup.sh) holds the
# bpy wheel and its numpy 1.26, ./test.sh runs them there. Without bpy, tests/conftest.py reports them as skipped.
HAVE_BPY = importlib.util.find_spec("bpy") is not None
if HAVE_BPY:
    _USER = tempfile.mkdtemp(prefix="depthshot-blender-user-")
    os.environ["BLENDER_USER_RESOURCES"] = _USER

    import bpy  # needs the environment above

    EXT_TOOL = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"

MODULE = "bl_ext.user_default.depthshot"
W, H, N, FPS = 64, 48, 6, 24
GRID = (8, 6)


def build_extension(out_dir: Path) -> Path:
    """``blender --command extension build`` through the wheel's Python: returns the zip."""
    result = subprocess.run(
        [sys.executable, str(EXT_TOOL), "build", "--source-dir", str(REPO / "blender_addon"), "--output-dir",
         str(out_dir)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    version = tomllib.loads((REPO / "blender_addon" / "blender_manifest.toml").read_text())["version"]
    return out_dir / f"depthshot-{version}.zip"


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory) -> Path:
    """The extension zip, built once per session."""
    return build_extension(tmp_path_factory.mktemp("ext"))


@pytest.fixture(scope="session")
def addon(extension_zip):
    """The extension installed from its zip and enabled; disabled at the end."""
    result = bpy.ops.extensions.package_install_files(
        filepath=str(extension_zip), repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"}
    assert MODULE in bpy.context.preferences.addons
    yield sys.modules[MODULE]
    bpy.ops.preferences.addon_disable(module=MODULE)
    shutil.rmtree(_USER, ignore_errors=True)


def frame_image(i: int) -> np.ndarray:
    """Frame ``i`` of the test clip: uint8 [H, W, 3], a different flat colour per frame plus a left band."""
    img = np.zeros((H, W, 3), np.uint8)
    img[..., i % 3] = 220
    img[:, : W // 4] = (40, 40, 40)
    return img


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A real H.264 file of ``N`` frames at ``FPS``, ``W x H``."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(N):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_image(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def scene(addon):
    """An empty file whose scene is also the workspace's sequencer scene."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    bpy.context.workspace.sequencer_scene = scene
    scene.sequence_editor_create()
    return scene


def depth_frame(i: int) -> np.ndarray:
    """Raw relative inverse depth of frame i: a horizontal ramp whose slope changes per frame, float32 [H, W]."""
    return (np.tile(np.linspace(0.0, 1.0, W, dtype=np.float32), (H, 1)) ** (1 + i % 3)) * (1 + i)


@pytest.fixture(scope="session")
def depth_pass(clip, tmp_path_factory):
    """Two shots: frames 0-2 and 3-5."""
    path = tmp_path_factory.mktemp("pass") / "clip.depth"
    writer = DepthPassWriter(path, PassInfo(source=str(clip), fps=FPS, width=W, height=H,
                                            kind="relative_inverse_depth"))
    for start, end in ((0, 3), (3, N)):
        writer.begin_shot(start)
        for i in range(start, end):
            writer.write(i, depth_frame(i), i / FPS)
        writer.end_shot()
    writer.close()
    return path


def strip_ready_to_build(scene, clip: Path, depth_pass: Path):
    """An active movie strip at scene frame 1 with its depth pass, every result switched on."""
    strip = scene.sequence_editor.strips.new_movie("clip", str(clip), 1, 1)
    scene.sequence_editor.active_strip = strip
    strip["depthshot_pass"] = str(depth_pass)
    settings = scene.depthshot
    settings.build_mesh = settings.build_points = settings.build_stereo = True
    settings.grid_x, settings.grid_y = GRID
    return strip


@pytest.fixture
def built(scene, clip, depth_pass, addon):
    """The add-on's mesh, point cloud and stereo rig built for a movie strip at scene frame 1."""
    strip_ready_to_build(scene, clip, depth_pass)
    assert bpy.ops.depthshot.build_scene() == {"FINISHED"}
    return scene


def prefs():
    """The add-on's preferences."""
    return bpy.context.preferences.addons[MODULE].preferences


@pytest.fixture
def movie(scene, clip, tmp_path):
    """The active movie strip at scene frame 1, on a copy of the clip: its depth pass folder is this test's own."""
    copy = tmp_path / "clip.mp4"
    shutil.copyfile(clip, copy)
    strip = scene.sequence_editor.strips.new_movie("clip", str(copy), 1, 1)
    scene.sequence_editor.active_strip = strip
    yield strip
    prefs().python_path = ""


@pytest.fixture(scope="session")
def vits_weights(tmp_path_factory) -> Path:
    """The fixtures' synthetic vits (vda-s) checkpoint, saved by the worker's Python (Blender's has no torch)."""
    path = tmp_path_factory.mktemp("weights") / "vits_synthetic.pth"
    code = ("import sys, torch; from tests.shared_data import VDA_FIXTURES, load_make_weights; "
            "torch.save(load_make_weights().make_state_dict(str(VDA_FIXTURES / 'layout_vits.json')), sys.argv[1])")
    subprocess.run([WORKER_PYTHON, "-c", code, str(path)], cwd=REPO, check=True)
    return path
