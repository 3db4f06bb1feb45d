"""The interactive player: an Open3D window playing a point-cloud sequence (needs a display).

Keys: space play/pause, right/left step (pauses), L loop on/off, +/- speed, O auto-orbit on/off, R back to the
recording camera, Q/Esc quit. The mouse orbits (left drag), pans (ctrl/shift + drag) and zooms (wheel). One
frame is loaded at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import open3d as o3d

from core.errors import DepthshotError
from core.viewer.camera import UP, View
from core.viewer.frames import load_cloud, scene_centre
from core.viewer.playback import Playback

log = logging.getLogger(__name__)

_RIGHT, _LEFT = 262, 263
_ORBIT_PX_PER_S = 60.0  # auto-orbit: mouse pixels of rotation per second


def play(frames: Sequence[Path], playback: Playback, view: View = View()) -> None:
    """Open a window of ``view.size`` and play ``frames`` (PLY files) until it is closed."""
    vis = o3d.visualization.VisualizerWithKeyCallback()
    if not vis.create_window(window_name=f"depthshot: {frames[0].parent}", width=view.size[0], height=view.size[1]):
        raise DepthshotError("cannot open a window (no display?): use --screenshots OUT to render to PNG files")
    cloud = load_cloud(frames[playback.position])
    centre = scene_centre(cloud)
    vis.add_geometry(cloud)
    options = vis.get_render_option()
    options.point_size = view.point_size
    options.background_color = np.array([0.1, 0.1, 0.1])
    state = {"orbit": False, "last": time.monotonic(), "shown": playback.position}

    def home(v: o3d.visualization.Visualizer) -> bool:
        ctl = v.get_view_control()
        ctl.set_lookat(centre)
        ctl.set_front([0.0, 0.0, -1.0])  # from the camera towards the scene: +z, so front points back at us
        ctl.set_up(UP)
        ctl.change_field_of_view(view.vfov_deg - ctl.get_field_of_view())
        return True

    def show(v: o3d.visualization.Visualizer) -> bool:
        if state["shown"] == playback.position:
            return False
        new = load_cloud(frames[playback.position])
        cloud.points, cloud.colors = new.points, new.colors
        v.update_geometry(cloud)
        state["shown"] = playback.position
        return True

    def tick(v: o3d.visualization.Visualizer) -> bool:
        now = time.monotonic()
        dt, state["last"] = now - state["last"], now
        changed = playback.advance(dt) and show(v)
        if state["orbit"]:
            v.get_view_control().rotate(_ORBIT_PX_PER_S * dt, 0.0)
            changed = True
        return changed

    def key(action):
        def callback(v: o3d.visualization.Visualizer) -> bool:
            action()
            return show(v)

        return callback

    bindings = {
        ord(" "): key(playback.toggle),
        _RIGHT: key(lambda: playback.step(1)),
        _LEFT: key(lambda: playback.step(-1)),
        ord("L"): key(lambda: setattr(playback, "loop", not playback.loop)),
        ord("="): key(playback.faster),
        ord("+"): key(playback.faster),
        ord("-"): key(playback.slower),
        ord("O"): key(lambda: state.update(orbit=not state["orbit"])),
        ord("R"): home,
    }
    for code, callback in bindings.items():
        vis.register_key_callback(code, callback)
    vis.register_animation_callback(tick)
    home(vis)
    log.info("space play/pause, arrows step, L loop, +/- speed, O orbit, R reset view, Q quit")
    vis.run()
    vis.destroy_window()
