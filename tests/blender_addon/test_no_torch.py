"""The add-on never imports torch or the depthshot core: checked in a fresh Blender process running its operators."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

from core.worker_protocol import PROTOCOL_VERSION

from .conftest import REPO

CHILD = textwrap.dedent(
    """
    import json, os, sys
    import bpy

    assert bpy.ops.extensions.package_install_files(
        filepath=os.environ["EXT_ZIP"], repo="user_default", enable_on_install=True) == {"FINISHED"}
    bpy.context.preferences.addons["bl_ext.user_default.depthshot"].preferences.python_path = os.environ["WORKER"]
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    bpy.context.workspace.sequencer_scene = scene
    scene.sequence_editor_create()
    strip = scene.sequence_editor.strips.new_movie("clip", os.environ["CLIP"], 1, 1)
    scene.sequence_editor.active_strip = strip
    strip.frame_offset_end = strip.frame_final_duration - 2
    scene.depthshot.grid_x, scene.depthshot.grid_y = 8, 6
    scene.depthshot.build_points = True
    ran = [
        bpy.ops.depthshot.estimate_depth(synchronous=True),
        bpy.ops.depthshot.build_scene(),
    ]
    scene.render.engine = "BLENDER_WORKBENCH"
    ran.append(bpy.ops.depthshot.render_stereo())
    print(json.dumps({
        "ran": [sorted(r) for r in ran],
        "strips": sorted(s.type for s in scene.sequence_editor.strips),
        "objects": sorted(o.name for o in scene.objects),
        "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "core")),
        "core_importable": __import__("importlib").util.find_spec("core") is not None,
    }))
    """
)


def test_operators_run_without_importing_torch_or_core(tmp_path, clip, depth_pass, extension_zip):
    pass_copy = tmp_path / "pass" / "clip.depth"
    shutil.copytree(depth_pass, pass_copy)
    worker = tmp_path / "worker"  # a stand-in worker that reports the finished pass: no depth run needed
    worker.write_text(
        f"#!{sys.executable}\nimport json\n"
        f"print(json.dumps({{'type': 'start', 'protocol': {PROTOCOL_VERSION}, 'pid': 1}}))\n"
        f"print(json.dumps({{'type': 'done', 'pass': {str(pass_copy)!r}, 'reused': True}}))\n"
    )
    worker.chmod(0o755)
    env = {
        **os.environ,
        "BLENDER_USER_RESOURCES": str(tmp_path / "user"),
        "EXT_ZIP": str(extension_zip),
        "WORKER": str(worker),
        "CLIP": str(clip),
        "PYTHONPATH": str(REPO),  # the core is importable: only the add-on's own restraint keeps it out
    }
    result = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ran"] == [["FINISHED"]] * 3
    assert report["strips"] == ["IMAGE", "MOVIE", "MOVIE"]  # depth pass + source + stereo render
    assert {"clip camera", "clip mesh", "clip points"} <= set(report["objects"])
    assert report["core_importable"]
    assert report["loaded"] == []
