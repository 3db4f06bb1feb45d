"""Headless rendering of a point-cloud sequence to PNG files with Open3D's ``OffscreenRenderer``.

Setup: the renderer (Filament) needs a Vulkan driver; on a machine without a GPU, Mesa's CPU driver "lavapipe"
(Debian/Ubuntu package ``mesa-vulkan-drivers``) works with no display. Without any Vulkan driver Open3D aborts
the process (no Python exception), so :func:`check_vulkan` looks for a driver first. Post-processing is off so
colours are exact. Do not create a legacy ``Visualizer`` in the same process (it crashes).
"""

from __future__ import annotations

import glob
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import open3d as o3d
from open3d.visualization.rendering import Camera

from core.atomic import atomic_path
from core.errors import DepthshotError
from core.progress import OnProgress, Stage
from core.viewer.camera import UP, Filmed, View, follow_extrinsic, orbit_eye, window_intrinsic
from core.viewer.frames import frame_index, load_cloud, scene_centre

log = logging.getLogger(__name__)

BACKGROUND = (0.1, 0.1, 0.1, 1.0)
_NEAR, _FAR = 0.01, 100.0  # clip planes as multiples of the scene centre's depth
_ICD_DIRS = ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d")


def check_vulkan() -> None:
    """On Linux, raise a clear error when no Vulkan driver is installed (Open3D would abort the process)."""
    if not sys.platform.startswith("linux") or os.environ.get("VK_ICD_FILENAMES") or os.environ.get("VK_DRIVER_FILES"):
        return
    if not any(glob.glob(f"{d}/*.json") for d in _ICD_DIRS):
        raise DepthshotError(
            "offscreen rendering needs a Vulkan driver; on a machine without a GPU install Mesa's CPU driver "
            "(Debian/Ubuntu: apt-get install mesa-vulkan-drivers)"
        )


def render_screenshots(frames: Sequence[Path], out_dir: Path, view: View = View(),
                       filmed: Filmed | None = None, on_progress: OnProgress | None = None) -> list[Path]:
    """Render each point cloud file of ``frames`` to ``out_dir/<stem>.png`` (RGB, ``view.size``), the camera
    orbiting the first frame's centre. With ``filmed`` the lens is the pass's, and with its poses the camera
    follows the trajectory (frame ``int(stem)``'s pose, orbited about the first frame's centre in its camera).
    Files are written atomically; returns their paths. ``on_progress`` gets ("screenshots", done, len(frames)) at
    the start and after each file."""
    check_vulkan()
    out_dir.mkdir(parents=True, exist_ok=True)
    w, h = view.size
    renderer = o3d.visualization.rendering.OffscreenRenderer(w, h)
    scene = renderer.scene
    scene.set_background(np.array(BACKGROUND, np.float32))
    scene.view.set_post_processing(False)
    material = o3d.visualization.rendering.MaterialRecord()
    material.shader = "defaultUnlit"
    material.point_size = view.point_size
    written = []
    centre = eye = None
    stage = Stage(on_progress, "screenshots", len(frames)).begin()
    for path in frames:
        cloud = load_cloud(path)
        if filmed is not None:
            pose = filmed.poses.get(frame_index(path)) if filmed.poses else None
            if centre is None:
                centre = scene_centre(cloud if pose is None else _in_camera(cloud, pose))
            extrinsic = follow_extrinsic(np.eye(4) if pose is None else pose, centre, view.orbit_deg)
            intrinsic = o3d.camera.PinholeCameraIntrinsic(w, h, *_fxfycxcy(window_intrinsic(filmed.intrinsics, w, h)))
            renderer.setup_camera(intrinsic, extrinsic)
            near = float(centre[2]) * _NEAR
            renderer.scene.camera.set_projection(
                window_intrinsic(filmed.intrinsics, w, h), near, float(centre[2]) * _FAR, float(w), float(h)
            )
        elif centre is None:
            centre = scene_centre(cloud)
            eye = orbit_eye(centre, view.orbit_deg)
            renderer.setup_camera(view.vfov_deg, centre, eye, UP)
            # clip planes from the scene's depth (setup_camera would take them from the still empty scene)
            renderer.scene.camera.set_projection(
                view.vfov_deg, w / h, centre[2] * _NEAR, centre[2] * _FAR, Camera.FovType.Vertical
            )
        scene.clear_geometry()
        if len(cloud.points):
            scene.add_geometry("cloud", cloud, material)
        image = renderer.render_to_image()
        out = out_dir / f"{path.stem}.png"
        with atomic_path(out) as tmp:
            if not o3d.io.write_image(str(tmp), image):
                raise DepthshotError(f"could not write {out}")
        written.append(out)
        stage.update()
    log.info("wrote %d screenshots to %s", len(written), out_dir)
    return written


def _fxfycxcy(m: np.ndarray) -> tuple[float, float, float, float]:
    return float(m[0, 0]), float(m[1, 1]), float(m[0, 2]), float(m[1, 2])


def _in_camera(cloud: o3d.geometry.PointCloud, pose: np.ndarray) -> o3d.geometry.PointCloud:
    """A world-space cloud seen from its camera (for the scene centre)."""
    return o3d.geometry.PointCloud(cloud).transform(np.linalg.inv(pose))
