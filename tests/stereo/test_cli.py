import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from core.cli import run_main
from core.depth.depth_pass import DepthPassWriter, PassInfo
from core.stereo.__main__ import main
from core.stereo.convert import default_output
from core.video.isobmff import ST3D_LEFT_RIGHT, spherical_metadata
from core.video import probe, read_frames
from tests.video import media  # the video tests' clip writer (PyAV direct)

W, H, N, FPS = 64, 48, 6, 10


def _pass(path: Path, width=W, height=H, frames=N, kind="relative_inverse_depth") -> Path:
    """A depth pass whose left half is near (1.0) and right half far (0.0), one shot."""
    w = DepthPassWriter(path, PassInfo(source="", fps=FPS, width=width, height=height, kind=kind))
    w.begin_shot(0)
    for i in range(frames):
        d = np.zeros((height, width), np.float32)
        d[:, : width // 2] = 1.0
        w.write(i, d if kind != "metric_depth" else 4.0 - 3.0 * d, i / FPS)
    w.end_shot()
    w.close()
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    src = media.write_video(folder / "in.mkv", frames=N, size=(W, H), fps=FPS, audio="aac", subtitles=True)
    return src, _pass(folder / "in_depth")


def _run(*argv) -> int:
    return run_main(main, [str(a) for a in argv])


def test_sbs_half_mkv_keeps_audio_and_subtitles_and_tags_stereo_mode(clip, tmp_path):
    src, depth = clip
    out = tmp_path / "out.mkv"
    assert _run(src, "-o", out, "--depth", depth, "--layout", "sbs_half", "--encode-preset", "ultrafast") == 0
    info = probe(out)
    assert (info.width, info.height) == (W, H)
    assert info.audio_streams == 1 and info.subtitle_streams == 1
    assert len(list(read_frames(out))) == N
    with av.open(str(out)) as c:
        assert c.streams.video[0].metadata["stereo_mode"] == "left_right"


def test_vr180_mp4_has_spherical_boxes(clip, tmp_path):
    src, depth = clip
    out = tmp_path / "vr.mp4"
    assert _run(src, "-o", out, "--depth", depth, "--layout", "vr180", "--fov", 90, "--encode-preset", "ultrafast") == 0
    assert spherical_metadata(out)["stereo_mode"] == ST3D_LEFT_RIGHT
    assert (probe(out).width, probe(out).height) == (256, 128)


def _marker_right_edge(image: np.ndarray, source: np.ndarray) -> float:
    """Sub-pixel x of the right edge of the test clip's white 8x8 marker (top left), from the grey of the column
    the warp splatted it onto: the marker's whiteness summed over the first 16 columns of the top 8 rows."""
    background = float(source[:8, 12:16].min(2).mean())
    whiteness = (image[:8, :16].min(2).astype(float).mean(0) - background) / (255.0 - background)
    return float(np.clip(whiteness, 0, 1).sum())


def test_preview_frame_png_shows_the_near_half_shifted(clip, tmp_path):
    src, depth = clip
    png = tmp_path / "p.png"
    argv = (src, "--depth", depth, "--layout", "sbs_full", "--preview-frame", 2, "--preview", png, "--divergence", 10)
    assert _run(*argv) == 0
    img = cv2.imread(str(png))
    assert img.shape == (H, 2 * W, 3)
    # the white 8x8 marker sits in the near (left) half: 10 % of 64 px = 6.4 px budget, near = +3.2 px,
    # so the left eye shows it 1.6 px right of the source and the right eye 1.6 px left (near shifts right in the
    # left eye: swapped eyes would fail). Its right edge, to sub-pixel precision from the splatted column's grey:
    source = next(f.image for f in read_frames(src) if f.index == 2)[:, :, ::-1]  # as cv2 reads the PNG (BGR)
    edge = _marker_right_edge(source, source)
    assert edge == pytest.approx(8.0, abs=0.05)
    assert _marker_right_edge(img[:, :W], source) - edge == pytest.approx(1.6, abs=0.1)
    assert _marker_right_edge(img[:, W:], source) - edge == pytest.approx(-1.6, abs=0.1)
    assert not default_output(src, "sbs_full").exists()


def test_output_name_carries_player_tags(tmp_path):
    assert default_output(tmp_path / "a.mov", "sbs_full").name == "a_3D_LRF_Full_SBS.mov"
    assert default_output(tmp_path / "a.avi", "vr180").name == "a_180x180_LR.mp4"


@pytest.mark.parametrize(
    "extra, msg",
    [
        (["--divergence", "-1"], "divergence"),
        (["--convergence", "2"], "convergence"),
        (["--crf", "99"], "crf"),
        (["--start", "2", "--end", "1"], "after --start"),
        (["--preview", "x.png"], "--preview-frame"),
        (["--disparity", "metric"], "metric depth pass"),
        (["--screen-width", "1"], "together"),
        (["--layout", "vr180", "--fov", "190"], "field of view"),
        (["-o", "out.avi"], ".mp4, .mkv or .mov"),
    ],
)
def test_bad_options_give_one_line_errors(clip, tmp_path, capsys, extra, msg):
    src, depth = clip
    extra = [str(tmp_path / e) if e.endswith((".png", ".avi")) else e for e in extra]
    assert _run(src, "--depth", depth, *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and msg in err[-1]


def test_bad_inputs(clip, tmp_path, capsys):
    src, depth = clip
    assert _run(tmp_path / "missing.mp4", "--depth", depth) == 2
    assert _run(src, "--depth", tmp_path / "nope") == 2
    not_video = tmp_path / "x.mp4"
    not_video.write_text("hello")
    assert _run(not_video, "--depth", depth) == 2
    wide = _pass(tmp_path / "wide", width=96, height=32)
    assert _run(src, "--depth", wide) == 2
    assert "aspect ratio" in capsys.readouterr().err
    short = _pass(tmp_path / "short", frames=3)
    assert _run(src, "--depth", short, "-o", tmp_path / "o.mkv") == 2
    assert not (tmp_path / "o.mkv").exists()
    assert "another clip or range" in capsys.readouterr().err  # refused up front, before any frame


@pytest.mark.parametrize("extra", [["--disparity", "metric", "--fov", "60"], ["--auto-convergence"],
                                   ["--eyes", "right_only", "--dilate", "2", "--border", "black"]])
def test_other_disparity_and_synthesis_modes_render(tmp_path, extra):
    src = media.write_video(tmp_path / "in.mp4", frames=3, size=(W, H), fps=FPS)
    depth = _pass(tmp_path / "d", frames=3, kind="metric_depth")
    png = tmp_path / "p.png"
    assert _run(src, "--depth", depth, "--preview-frame", 1, "--preview", png, *extra) == 0
    img = cv2.imread(str(png))[:, :, ::-1]
    assert img.shape == (H, 2 * W, 3)
    source = next(f.image for f in read_frames(src) if f.index == 1).astype(int)
    left, right = img[:, :W].astype(int), img[:, W:].astype(int)
    if "right_only" in extra:  # the input is the left eye as it is; the right eye alone is synthesised
        assert np.array_equal(left, source) and not np.array_equal(right, source)
        # and the near marker moves left in it (the whole parallax, none in the left eye)
        assert _marker_right_edge(right, source) - _marker_right_edge(source, source) < -0.1
    else:  # both eyes shifted half-way, in opposite directions: the near marker moves right in the left eye
        edge = _marker_right_edge(source, source)
        shifts = _marker_right_edge(left, source) - edge, _marker_right_edge(right, source) - edge
        assert shifts[0] > 0.05 and shifts[1] < -0.05 and shifts[0] == pytest.approx(-shifts[1], abs=0.1)


@pytest.mark.slow
def test_without_depth_runs_the_engine_into_a_pass_beside_the_output(clip, tmp_path, vits_weights, monkeypatch,
                                                                     capsys):
    """No --depth: the depth engine (VDA-S, synthetic weights) writes a pass next to the output, then the video;
    the progress records show the depth stage to its end before the stereo frames."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src, _ = clip
    out = tmp_path / "new" / "clip_sbs.mp4"  # the folder does not exist yet
    assert _run(str(src), "-o", str(out), "--model", "vda-s", "--weights", str(vits_weights), "--input-size", "56",
                "--device", "cpu", "--progress", "jsonl") == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    stages = [r["stage"] for r in records]
    assert "depth" in stages and "stereo" in stages and "done" not in stages
    assert max(i for i, s in enumerate(stages) if s == "depth") < stages.index("stereo")
    assert [r for r in records if r["stage"] == "depth"][-1]["frames_done"] == N
    passes = [p for p in out.parent.iterdir() if (p / "depth_pass.json").is_file()]
    assert len(passes) == 1
    info = probe(out)
    assert (info.width, info.height) == (2 * W, H) and info.frame_count == N
    # running it again reuses the finished pass and the output is written once more
    assert _run(str(src), "-o", str(out), "--model", "vda-s", "--weights", str(vits_weights), "--input-size", "56",
                "--device", "cpu") == 0


def test_library_reports_progress_through_the_callback_and_draws_no_bar(clip, tmp_path, capfd):
    """run_stereo is library code: progress goes to the caller's callback (the CLI draws the bars), not stderr."""
    from core.stereo.convert import StereoJob, run_stereo
    from core.stereo.disparity import DisparityConfig
    from core.video import EncodeSettings

    src, depth = clip
    seen = []
    job = StereoJob(input=src, output=tmp_path / "p.mkv", depth=depth, disparity=DisparityConfig(auto_convergence=True),
                    settings=EncodeSettings(preset="ultrafast"), device="cpu")
    run_stereo(job, on_progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert [s for s in seen if s[0] == "auto-convergence"][-1] == ("auto-convergence", N, N)
    stereo = [s for s in seen if s[0] == "stereo"]
    assert stereo[0][1] == 0 and stereo[-1][1] == N and [d for _, d, _ in stereo] == sorted(d for _, d, _ in stereo)
    assert "%|" not in capfd.readouterr().err  # no tqdm bar from the library
