"""Render the add-on's README images headless: TUM fr1/xyz sensor depth imported as a pass, built with the add-on.

Run with the add-on's Python (bpy), e.g. from the checkout::

    .venv-blender/bin/python assets/render_addon_screenshots.py [--data DIR] [--out DIR]

The depth is imported by the core in its own environment (``--core-python``, default ``.venv/bin/python``), as the
add-on's worker does; the extension is built with Blender's own tool and installed into a scratch user folder.
Writes ``result_mesh.png`` (an oblique view of the displaced mesh) and ``result_stereo_sbs.png`` (the stereo rig's
side-by-side render) into ``--out`` (default ``assets/readme``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(os.environ.get("DEPTHSHOT_TUM") or "../shared/data/tum_fr1_xyz"),
                   help="TUM fr1/xyz folder with depth/, rgb.mp4, intrinsics.json (default: $DEPTHSHOT_TUM, else "
                        "../shared/data/tum_fr1_xyz from the current directory)")
    p.add_argument("--out", type=Path, default=REPO / "assets" / "readme", help="folder for the two PNGs")
    p.add_argument("--core-python", default=str(REPO / ".venv" / "bin" / "python"),
                   help="a Python with depthshot installed (imports the depth)")
    p.add_argument("--frames", type=int, default=30, help="frames to import (default 30)")
    p.add_argument("--frame", type=int, default=10, help="scene frame to render (default 10)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="depthshot-blender-user-")
    work = Path(tempfile.mkdtemp(prefix="depthshot-shots-"))
    depth_pass, video = work / "tum.depth", args.data / "rgb.mp4"
    subprocess.run([args.core_python, "-P", "-m", "core.depth.import_depth", str(args.data / "depth"), "-o",
                    str(depth_pass), "--scale", "5000", "--kind", "metric_depth", "--video", str(video),
                    "--intrinsics", str(args.data / "intrinsics.json"), "--frames", str(args.frames)],
                   cwd=REPO, check=True)

    import bpy  # after BLENDER_USER_RESOURCES: nothing touches the real user configuration
    import mathutils

    tool = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    subprocess.run([sys.executable, str(tool), "build", "--source-dir", str(REPO / "blender_addon"), "--output-dir",
                    str(work)], check=True)
    version = tomllib.loads((REPO / "blender_addon" / "blender_manifest.toml").read_text())["version"]
    bpy.ops.extensions.package_install_files(filepath=str(work / f"depthshot-{version}.zip"), repo="user_default",
                                             enable_on_install=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    bpy.context.workspace.sequencer_scene = scene
    scene.sequence_editor_create()
    strip = scene.sequence_editor.strips.new_movie("rgb", str(video), 1, 1)
    scene.sequence_editor.active_strip = strip
    strip["depthshot_pass"] = str(depth_pass)
    settings = scene.depthshot
    settings.build_points = False
    settings.grid_x, settings.grid_y = 320, 240
    bpy.ops.depthshot.build_scene()
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "FLAT"
    scene.display.shading.color_type = "TEXTURE"
    scene.render.use_sequencer = False
    scene.frame_set(args.frame)
    args.out.mkdir(parents=True, exist_ok=True)

    # oblique view: a second camera looking at the displaced mesh from the side
    cam = bpy.data.objects.new("view", bpy.data.cameras.new("view"))
    scene.collection.objects.link(cam)
    cam.location = (1.6, -0.6, 0.5)
    cam.rotation_euler = (mathutils.Vector((0, 1.6, 0)) - cam.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera, scene.render.use_multiview = cam, False
    scene.render.resolution_x, scene.render.resolution_y = 640, 480
    scene.render.filepath = str(args.out / "result_mesh.png")
    bpy.ops.render.render(write_still=True)

    scene.camera, scene.render.use_multiview = scene.objects["rgb camera"], True
    scene.render.resolution_x, scene.render.resolution_y = 320, 240
    scene.render.filepath = str(args.out / "result_stereo_sbs.png")
    bpy.ops.render.render(write_still=True)


if __name__ == "__main__":
    main()
