"""Drives the real player headless: ``python tests/viewer/drive_player.py DIR OUT.npz [ORBIT_DEG]``.

Opens :func:`core.viewer.window.open_player` offscreen (Open3D's legacy visualizer falls back to EGL without a
display), presses keys by calling the callbacks the player registers, advances a manual clock between animation
ticks, and saves after each step the captured image (uint8 RGB) and the playback state. With ORBIT_DEG it only
saves the paused start view of a camera orbited that much. Run in a subprocess by ``test_window.py``: the legacy
visualizer must not share a process with the offscreen renderer (and a second window of one process renders only
its background)."""

import sys
from pathlib import Path

import numpy as np

from core.viewer.camera import View
from core.viewer.frames import list_frames
from core.viewer.playback import Playback
from core.viewer.window import KEY_LEFT, KEY_RIGHT, open_player

SIZE = (160, 120)


def main(folder: Path, out: Path, orbit_deg: float | None = None) -> None:
    files = list_frames(folder)
    now = [0.0]
    playback = Playback(len(files), fps=10.0, playing=orbit_deg is None)
    vis, player = open_player(files, playback, View(size=SIZE, orbit_deg=orbit_deg or 0.0), visible=False,
                              clock=lambda: now[0])
    record: dict[str, np.ndarray] = {}

    def snap(label: str) -> None:
        image = np.asarray(vis.capture_screen_float_buffer(do_render=True))
        pb = player.playback
        record[f"{label}/image"] = np.round(image * 255).astype(np.uint8)
        record[f"{label}/state"] = np.array([pb.position, pb.playing, pb.loop, pb.speed, player.shown])

    def key(code: str | int) -> bool:
        return player.keys[ord(code) if isinstance(code, str) else code](vis)

    def tick(seconds: float) -> bool:
        now[0] += seconds
        return player.tick(vis)

    snap("start")
    if orbit_deg is not None:
        vis.destroy_window()
        np.savez_compressed(out, **record)
        return
    record["half/changed"] = np.array(tick(0.05))  # half a frame period at 10 fps
    snap("half")
    record["play1/changed"] = np.array(tick(0.05))
    snap("play1")
    tick(0.1)
    snap("play2")
    tick(0.1)
    snap("wrap")
    key(" ")
    snap("pause")
    record["paused/changed"] = np.array(tick(1.0))
    snap("paused")
    key(KEY_RIGHT)
    snap("step_forward")
    key(KEY_LEFT)
    key(KEY_LEFT)
    snap("step_back_wrap")
    key(KEY_RIGHT)
    key("=")
    key(" ")
    tick(0.1)  # two frames at double speed
    snap("fast")
    key("-")
    key("-")
    record["slow_half/changed"] = np.array(tick(0.1))  # half a frame at half speed
    tick(0.1)
    snap("slow")
    key("L")
    tick(1.0)
    snap("no_loop_end")
    key("O")
    tick(0.5)
    snap("orbit")
    key("O")
    tick(0.5)
    snap("orbit_stopped")
    key("R")
    snap("home")
    vis.destroy_window()
    np.savez_compressed(out, **record)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else None)
