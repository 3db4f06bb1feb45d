"""Render Stereo: the add-on's scene rendered to a side-by-side video, read back, and added to the Sequencer."""

from pathlib import Path

import bpy
import numpy as np

from core.video import probe, read_frames

from .conftest import H, W

FRAMES = 3


def test_render_stereo_writes_side_by_side_video_and_adds_a_strip(built, capfd):
    scene = built
    movie = scene.sequence_editor.active_strip
    movie.frame_offset_end = movie.frame_final_duration - FRAMES  # only the first FRAMES frames are rendered
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "FLAT"
    scene.display.shading.color_type = "TEXTURE"
    before = {s.name for s in scene.sequence_editor.strips}
    frame_range = (scene.frame_start, scene.frame_end)
    scene.view_settings.view_transform = "AgX"  # the scene's own look, which must not darken the footage
    scene.render.fps = 30  # the strip is 24 fps

    assert bpy.ops.depthshot.render_stereo() == {"FINISHED"}
    assert "the scene runs at 30 fps, the strip at 24 fps" in capfd.readouterr().out

    added = [s for s in scene.sequence_editor.strips if s.name not in before]
    assert len(added) == 1 and added[0].type == "MOVIE"
    strip = added[0]
    assert strip.frame_final_start == movie.frame_final_start and strip.frame_final_duration == FRAMES
    assert strip.channel > max(s.channel for s in scene.sequence_editor.strips if s != strip) - 1
    path = bpy.path.abspath(strip.filepath)
    assert path.endswith("clip.depth-stereo-sbs.mp4")
    assert sorted(p.name for p in Path(path).parent.iterdir() if "stereo" in p.name) == [Path(path).name]
    info = probe(path)
    assert (info.width, info.height, info.frame_count) == (2 * W, H, FRAMES)
    frames = [f.image.astype(np.float32) for f in read_frames(path)]
    assert len(frames) == FRAMES
    for image in frames:
        left, right = image[:, :W], image[:, W:]
        assert left.std() > 10  # the footage is there, not an empty background
        assert np.abs(left - right).mean() > 2  # two different eyes
    assert not np.allclose(frames[0], frames[1])  # the footage moves with the scene frame
    # Standard view transform: the footage's dark band (40) and flat colour (220) come out as they went in
    band = frames[0][H // 4 : -H // 4, 2 : W // 8].mean()
    assert abs(band - 40) < 8 and frames[0][H // 4 : -H // 4, W // 2 : W - 4].max() > 200
    # the scene's own settings are restored
    assert (scene.frame_start, scene.frame_end) == frame_range
    assert scene.render.use_sequencer and scene.render.image_settings.media_type == "IMAGE"
    assert scene.view_settings.view_transform == "AgX" and scene.render.fps == 30
    assert bpy.ops.depthshot.render_stereo() == {"FINISHED"}  # again: the one stereo strip is replaced
    assert sorted(s.name for s in scene.sequence_editor.strips) == sorted(before | {"clip stereo"})
