"""Render the README images headless: TUM fr1/xyz sensor depth imported as a pass, built with the add-on.

Run from the checkout with the bpy environment: ``python blender_addon/docs/render_screenshots.py``; it writes
``result_mesh.png`` and ``result_stereo_sbs.png`` next to itself.
"""
import os, sys, json, shutil, tempfile, subprocess
from pathlib import Path
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp()
REPO = Path(__file__).resolve().parents[2]
DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
from core.depth.import_depth import import_depth
T = REPO.parent / "shared" / "data" / "tum_fr1_xyz"
intr = json.loads((T / "intrinsics.json").read_text())
WORK = Path(tempfile.mkdtemp(prefix="depthshot-shots-"))
out = WORK / "tum.depth"
import_depth(T / "depth", out, scale=5000.0, kind="metric_depth", fps=30.0, video=T / "rgb.mp4",
             intrinsics={k: intr[k] for k in ("fx", "fy", "cx", "cy")} if "fx" in intr else None, max_frames=30)
import bpy
subprocess.run([sys.executable, str(Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core/bl_pkg/cli/blender_ext.py"),
                "build", "--source-dir", str(REPO / "blender_addon"), "--output-dir", str(WORK)], check=True)
bpy.ops.extensions.package_install_files(filepath=str(WORK / "depthshot-0.1.0.zip"), repo="user_default", enable_on_install=True)
bpy.ops.wm.read_homefile(use_empty=True)
sc = bpy.context.scene; bpy.context.workspace.sequencer_scene = sc; sc.sequence_editor_create()
st = sc.sequence_editor.strips.new_movie("rgb", str(T / "rgb.mp4"), 1, 1)
sc.sequence_editor.active_strip = st; st["depthshot_pass"] = str(out)
s = sc.depthshot; s.build_points = False; s.grid_x, s.grid_y = 320, 240
bpy.ops.depthshot.build_scene()
sc.render.engine = "BLENDER_WORKBENCH"; sc.display.shading.light = "FLAT"; sc.display.shading.color_type = "TEXTURE"
sc.render.use_sequencer = False; sc.frame_set(10)
# oblique view: a second camera looking at the displaced mesh from the side
cam = bpy.data.objects.new("view", bpy.data.cameras.new("view")); sc.collection.objects.link(cam)
import mathutils
cam.location = (1.6, -0.6, 0.5); target = mathutils.Vector((0, 1.6, 0))
cam.rotation_euler = (target - cam.location).to_track_quat("-Z", "Y").to_euler()
sc.camera = cam; sc.render.use_multiview = False; sc.render.resolution_x, sc.render.resolution_y = 640, 480
sc.render.filepath = str(DOCS / "result_mesh.png"); bpy.ops.render.render(write_still=True)
sc.camera = sc.objects["rgb camera"]; sc.render.use_multiview = True
sc.render.resolution_x, sc.render.resolution_y = 320, 240
sc.render.filepath = str(DOCS / "result_stereo_sbs.png"); bpy.ops.render.render(write_still=True)
