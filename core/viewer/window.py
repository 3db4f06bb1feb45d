"""The interactive player: an Open3D window playing a point-cloud sequence (needs a display).

Keys: space play/pause, right/left step (pauses), L loop on/off, +/- speed, O auto-orbit on/off, R back to the
start view, F follow the filming camera on/off (world-space clouds with the pass's poses), Q/Esc quit. The mouse orbits (left drag), pans (ctrl/shift + drag) and zooms (wheel). One frame is
loaded at a time.

:func:`open_player` opens the window and returns the :class:`Player` whose :attr:`Player.keys` are the callbacks
the keys run; with ``visible=False`` (or no display) Open3D's legacy visualizer renders offscreen through EGL,
which is how the player is tested headless.
"""

from __future__ import annotations

import bisect
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import open3d as o3d

from core.errors import DepthshotError
from core.viewer.camera import Filmed, View, follow_extrinsic, window_intrinsic
from core.viewer.frames import frame_index, load_cloud, scene_centre
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
                 view: View, clock: Callable[[], float], filmed: Filmed | None = None) -> None:
        self.frames, self.playback, self.view, self.clock, self.filmed = frames, playback, view, clock, filmed
        self.orbiting = False
        self.following = bool(filmed and filmed.poses)
        # with a pass, playback runs over frame indices at the clip's rate; a position shows the latest file
        self._indices = [frame_index(f) for f in frames] if filmed is not None else list(range(len(frames)))
        self.shown = self._file_at(playback.position)
        self.cloud = load_cloud(frames[self.shown])
        pose = self._pose(self.shown)
        self._centre = scene_centre(self.cloud if pose is None else
                                    o3d.geometry.PointCloud(self.cloud).transform(np.linalg.inv(pose)))
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
            ord("F"): self._toggle_follow,
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
        params = o3d.camera.PinholeCameraParameters()
        if self.filmed is not None:  # the pass's lens: field of view and principal point
            m = window_intrinsic(self.filmed.intrinsics, w, h)
            params.intrinsic = o3d.camera.PinholeCameraIntrinsic(w, h, m[0, 0], m[1, 1], m[0, 2], m[1, 2])
        else:
            f = (w / 2.0) / np.tan(np.radians(self.view.hfov_deg) / 2.0)
            params.intrinsic = o3d.camera.PinholeCameraIntrinsic(w, h, f, f, (w - 1) / 2.0, (h - 1) / 2.0)
        pose = self._pose(self.shown)
        params.extrinsic = follow_extrinsic(np.eye(4) if pose is None else pose, self._centre, self.view.orbit_deg)
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

    def _toggle_follow(self, vis: o3d.visualization.Visualizer) -> bool:
        self.following = not self.following and bool(self.filmed and self.filmed.poses)
        return self.home(vis) if self.following else False

    def _file_at(self, position: int) -> int:
        """The file shown at playback ``position``: the last one whose frame index is at most the first's +
        ``position``."""
        return max(0, bisect.bisect_right(self._indices, self._indices[0] + position) - 1)

    def _pose(self, file: int) -> np.ndarray | None:
        """The filming camera's pose for file ``file`` when following, else None."""
        if not self.following:
            return None
        return self.filmed.poses.get(self._indices[file])

    def _show(self, vis: o3d.visualization.Visualizer) -> bool:
        file = self._file_at(self.playback.position)
        if self.shown == file:
            return False
        new = load_cloud(self.frames[file])
        self.cloud.points, self.cloud.colors = new.points, new.colors
        vis.update_geometry(self.cloud)
        self.shown = file
        if self.following:
            self.home(vis)
        return True

    def _key(self, action: Callable[[], None]) -> KeyCallback:
        def callback(vis: o3d.visualization.Visualizer) -> bool:
            action()
            return self._show(vis)

        return callback


def open_player(frames: Sequence[Path], playback: Playback, view: View = View(), visible: bool = True,
                clock: Callable[[], float] = time.monotonic, filmed: Filmed | None = None
                ) -> tuple[o3d.visualization.VisualizerWithKeyCallback, Player]:
    """Open a window of ``view.size`` (offscreen when not ``visible``) with a :class:`Player` of ``frames`` whose
    keys and animation step are registered; run it with ``vis.run()``."""
    vis = o3d.visualization.VisualizerWithKeyCallback()
    if not vis.create_window(window_name=f"depthshot: {frames[0].parent}", width=view.size[0], height=view.size[1],
                             visible=visible):
        raise DepthshotError("cannot open a window: use --screenshots OUT to render to PNG files")
    player = Player(vis, frames, playback, view, clock, filmed)
    for code, callback in player.keys.items():
        vis.register_key_callback(code, callback)
    vis.register_animation_callback(player.tick)
    return vis, player


def play(frames: Sequence[Path], playback: Playback, view: View = View(), filmed: Filmed | None = None) -> None:
    """Open a window of ``view.size`` and play ``frames`` (PLY files) until it is closed."""
    if not has_display():
        raise DepthshotError("no display (DISPLAY/WAYLAND_DISPLAY unset): use --screenshots OUT to render to PNG files")
    vis, _ = open_player(frames, playback, view, filmed=filmed)
    log.info("space play/pause, arrows step, L loop, +/- speed, O orbit, R reset view, Q quit")
    vis.run()
    vis.destroy_window()
