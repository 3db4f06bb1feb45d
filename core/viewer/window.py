"""The interactive player: an Open3D window playing a point-cloud sequence (needs a display).

Keys: space play/pause, right/left step (pauses), L loop on/off, +/- speed, O auto-orbit on/off, R back to the
start view, Q/Esc quit. The mouse orbits (left drag), pans (ctrl/shift + drag) and zooms (wheel). One frame is
loaded at a time.

:func:`open_player` opens the window and returns the :class:`Player` whose :attr:`Player.keys` are the callbacks
the keys run; with ``visible=False`` (or no display) Open3D's legacy visualizer renders offscreen through EGL,
which is how the player is tested headless.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import open3d as o3d

from core.errors import DepthshotError
from core.viewer.camera import View, look_at_extrinsic, orbit_eye
from core.viewer.frames import load_cloud, scene_centre
from core.viewer.playback import Playback

log = logging.getLogger(__name__)

BACKGROUND = (0.1, 0.1, 0.1)
KEY_RIGHT, KEY_LEFT, KEY_KP_SUBTRACT, KEY_KP_ADD = 262, 263, 333, 334  # GLFW key codes
_ORBIT_PX_PER_S = 60.0  # auto-orbit: mouse pixels of rotation per second
_ORTHOGRAPHIC_FOV = 5.0  # the legacy view control's smallest field of view, shown as an orthographic view

KeyCallback = Callable[[o3d.visualization.Visualizer], bool]


def has_display() -> bool:
    """Whether a window can be shown: on Linux an X11 or Wayland display must be set (without one Open3D
    silently renders offscreen instead)."""
    return not sys.platform.startswith("linux") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Player:
    """Plays ``frames`` (PLY files) in an open visualizer ``vis`` as ``playback`` says, seen as ``view`` says.
    ``clock`` gives seconds (monotonic) for the playback timing. Callbacks return True when the image changed."""

    def __init__(self, vis: o3d.visualization.Visualizer, frames: Sequence[Path], playback: Playback,
                 view: View, clock: Callable[[], float]) -> None:
        self.frames, self.playback, self.view, self.clock = frames, playback, view, clock
        self.orbiting = False
        self.shown = playback.position
        self.cloud = load_cloud(frames[playback.position])
        self._centre = scene_centre(self.cloud)
        self._last = clock()
        vis.add_geometry(self.cloud)
        options = vis.get_render_option()
        options.point_size = view.point_size
        options.background_color = np.array(BACKGROUND)
        self.keys: dict[int, KeyCallback] = {
            ord(" "): self._key(playback.toggle),
            KEY_RIGHT: self._key(lambda: playback.step(1)),
            KEY_LEFT: self._key(lambda: playback.step(-1)),
            ord("L"): self._key(lambda: setattr(playback, "loop", not playback.loop)),
            ord("="): self._key(playback.faster),  # the "+" key on most layouts
            KEY_KP_ADD: self._key(playback.faster),
            ord("-"): self._key(playback.slower),
            KEY_KP_SUBTRACT: self._key(playback.slower),
            ord("O"): self._key(self._toggle_orbit),
            ord("R"): self.home,
        }
        """GLFW key code -> callback (what :func:`open_player` registers)."""
        self.home(vis)

    def home(self, vis: o3d.visualization.Visualizer) -> bool:
        """Put the camera at the start view: the recording camera orbited by ``view.orbit_deg`` about the
        scene centre, with the view's field of view."""
        ctl = vis.get_view_control()
        if ctl.get_field_of_view() <= _ORTHOGRAPHIC_FOV:  # the "[" key went orthographic: no pinhole size then
            ctl.change_field_of_view(1.0)
        size = ctl.convert_to_pinhole_camera_parameters().intrinsic
        w, h = size.width, size.height  # the window's current size
        f = (w / 2.0) / np.tan(np.radians(self.view.hfov_deg) / 2.0)
        params = o3d.camera.PinholeCameraParameters()
        params.intrinsic = o3d.camera.PinholeCameraIntrinsic(w, h, f, f, (w - 1) / 2.0, (h - 1) / 2.0)
        params.extrinsic = look_at_extrinsic(orbit_eye(self._centre, self.view.orbit_deg), self._centre)
        if not ctl.convert_from_pinhole_camera_parameters(params, allow_arbitrary=True):
            raise DepthshotError("the viewer could not set its camera")
        return True

    def tick(self, vis: o3d.visualization.Visualizer) -> bool:
        """Animation step: advance playback by the time since the last tick; rotate the view when orbiting."""
        now = self.clock()
        dt, self._last = now - self._last, now
        changed = self.playback.advance(dt) and self._show(vis)
        if self.orbiting:
            vis.get_view_control().rotate(_ORBIT_PX_PER_S * dt, 0.0)
            changed = True
        return changed

    def _toggle_orbit(self) -> None:
        self.orbiting = not self.orbiting

    def _show(self, vis: o3d.visualization.Visualizer) -> bool:
        if self.shown == self.playback.position:
            return False
        new = load_cloud(self.frames[self.playback.position])
        self.cloud.points, self.cloud.colors = new.points, new.colors
        vis.update_geometry(self.cloud)
        self.shown = self.playback.position
        return True

    def _key(self, action: Callable[[], None]) -> KeyCallback:
        def callback(vis: o3d.visualization.Visualizer) -> bool:
            action()
            return self._show(vis)

        return callback


def open_player(frames: Sequence[Path], playback: Playback, view: View = View(), visible: bool = True,
                clock: Callable[[], float] = time.monotonic) -> tuple[o3d.visualization.VisualizerWithKeyCallback,
                                                                      Player]:
    """Open a window of ``view.size`` (offscreen when not ``visible``) with a :class:`Player` of ``frames`` whose
    keys and animation step are registered; run it with ``vis.run()``."""
    vis = o3d.visualization.VisualizerWithKeyCallback()
    if not vis.create_window(window_name=f"depthshot: {frames[0].parent}", width=view.size[0], height=view.size[1],
                             visible=visible):
        raise DepthshotError("cannot open a window: use --screenshots OUT to render to PNG files")
    player = Player(vis, frames, playback, view, clock)
    for code, callback in player.keys.items():
        vis.register_key_callback(code, callback)
    vis.register_animation_callback(player.tick)
    return vis, player


def play(frames: Sequence[Path], playback: Playback, view: View = View()) -> None:
    """Open a window of ``view.size`` and play ``frames`` (PLY files) until it is closed."""
    if not has_display():
        raise DepthshotError("no display (DISPLAY/WAYLAND_DISPLAY unset): use --screenshots OUT to render to PNG files")
    vis, _ = open_player(frames, playback, view)
    log.info("space play/pause, arrows step, L loop, +/- speed, O orbit, R reset view, Q quit")
    vis.run()
    vis.destroy_window()
