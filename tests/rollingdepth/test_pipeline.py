"""The whole RollingDepth pipeline with a tiny random UNet/VAE on CPU, on short real clips."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.depth.depth_pass import DepthPass, DepthPassWriter, PassInfo
from core.depth.rollingdepth import (
    PRESETS,
    CoalignConfig,
    estimate_shot,
    get_preset,
    load_model,
    random_model,
)
from core.depth.rollingdepth.snippets import plan_dilations
from core.depth.rollingdepth.weights import resolve_checkpoint
from core.errors import DepthshotError
from core.video import EncodeSettings, VideoWriter, read_frames

from .conftest import synthetic_frames

FAST_TEST = replace(get_preset("fast"), resolution=64, precision="fp32", coalign=CoalignConfig(iterations=30))


@pytest.fixture(scope="module")
def model():
    return random_model(0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """An 8-frame 64x48 H.264 clip written and read back with PyAV."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with VideoWriter(path, 64, 48, 24.0, EncodeSettings(codec="h264", crf=10, pix_fmt="yuv444p")) as writer:
        for frame in synthetic_frames(8):
            writer.write(frame)
    return path


def _reader(path: Path):
    return lambda: (f.image for f in read_frames(path))


def test_tiny_pipeline_on_a_decoded_clip(model, clip):
    depth = list(estimate_shot(model, _reader(clip), 8, FAST_TEST))
    assert len(depth) == 8
    for d in depth:
        assert d.shape == (48, 64) and d.dtype == np.float32 and np.isfinite(d).all()
    stack = np.stack(depth)
    assert stack.std() > 0  # the random network still produces structure, not a constant
    again = list(estimate_shot(model, _reader(clip), 8, FAST_TEST))
    np.testing.assert_array_equal(stack, np.stack(again))  # fixed seed: reproducible (resume-safe)


@pytest.mark.slow
def test_refinement_and_several_dilations(model):
    frames = synthetic_frames(12)
    config = replace(get_preset("full"), resolution=64, precision="fp32", refine_steps=3, coalign=CoalignConfig(iterations=30))
    assert plan_dilations(12, 3, list(config.dilations), True) == [1, 3]  # 10 and 25 capped to 3
    depth = np.stack(list(estimate_shot(model, lambda: iter(frames), 12, config)))
    assert depth.shape == (12, 48, 64) and np.isfinite(depth).all()
    unrefined = np.stack(list(estimate_shot(model, lambda: iter(frames), 12, replace(config, refine_steps=0))))
    assert np.abs(depth - unrefined).max() > 1e-3  # the refinement really ran


@pytest.mark.parametrize("count", [1, 2, 5])
def test_short_clips_work(model, count):
    frames = synthetic_frames(count)
    depth = list(estimate_shot(model, lambda: iter(frames), count, FAST_TEST))
    assert len(depth) == count and all(np.isfinite(d).all() and d.shape == (48, 64) for d in depth)


def test_frame_count_mismatch_is_a_clean_error(model):
    frames = synthetic_frames(4)
    with pytest.raises(DepthshotError, match="has 4 frames, expected 6"):
        list(estimate_shot(model, lambda: iter(frames), 6, FAST_TEST))


def test_depth_pass_from_a_checkpoint_folder(model, clip, tmp_path):
    """load_model from a checkpoint folder in the diffusers layout + estimate_shot -> a valid depth pass on disk."""
    weights = _save_checkpoint(model, tmp_path / "ckpt")
    loaded = load_model(weights, "cpu", FAST_TEST.precision)
    # every component's configuration comes from the checkpoint (the tiny one here), none from the code
    assert list(loaded.unet.config.block_out_channels) == list(model.unet.config.block_out_channels) == [16, 32]
    assert list(loaded.vae.config.block_out_channels) == list(model.vae.config.block_out_channels)
    assert loaded.scheduler_config["prediction_type"] == "v_prediction"
    info = PassInfo(source=str(clip), fps=24.0, width=64, height=48, kind="relative_inverse_depth",
                    model={"id": "rollingdepth", "engine": "rollingdepth", "precision": "fp32"})
    writer = DepthPassWriter(tmp_path / "pass", info)
    writer.begin_shot(0)
    pts = [f.pts for f in read_frames(clip)]
    for i, depth in enumerate(estimate_shot(loaded, _reader(clip), 8, FAST_TEST)):
        writer.write(i, depth, pts[i])
    writer.end_shot()
    writer.close()
    dp = DepthPass.open(tmp_path / "pass")
    assert len(dp) == 8 and dp.info.kind == "relative_inverse_depth"
    frames = np.stack([dp.read(i) for i in range(8)])
    assert frames.shape == (8, 48, 64) and np.isfinite(frames).all() and frames.std() > 0
    assert dp.frame_path(7).exists()


def test_missing_weights_offline_is_a_clean_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(DepthshotError, match="HF_HUB_OFFLINE"):
        resolve_checkpoint(None, fp16=True)
    with pytest.raises(DepthshotError, match="not a RollingDepth checkpoint"):
        resolve_checkpoint(tmp_path, fp16=True)


def test_download_shows_the_licence_first(tmp_path, monkeypatch):
    """Not cached and online (the hub is faked): the RAIL++-M licence is logged before the download starts."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    from tests.helpers import fake_hub

    events = []

    def fake_download(repo_id, *, allow_patterns, local_files_only=False):
        events.append(("cached?" if local_files_only else "download", repo_id))
        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        for name in allow_patterns:
            if "*" not in name:
                (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / name).write_text("{}")
        (tmp_path / "tokenizer").mkdir(exist_ok=True)
        return str(tmp_path)

    with fake_hub(monkeypatch, fake_download, events):
        assert resolve_checkpoint(None, fp16=True) == tmp_path
    assert [e[0] for e in events] == ["cached?", "log", "download"]
    assert "RAIL++-M" in events[1][1] and "prs-eth/rollingdepth-v1-0" in events[1][1]
    assert (tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors").exists()  # the fp16 variant was asked for


def test_unknown_preset():
    with pytest.raises(DepthshotError, match="unknown RollingDepth preset"):
        get_preset("slow")


def _save_checkpoint(model, folder: Path) -> Path:
    """Write the tiny model in the checkpoint's diffusers layout, with a minimal CLIP tokenizer/text encoder."""
    from transformers import CLIPTextModel, CLIPTokenizer

    from core.models.rollingdepth import tiny_text_encoder_config

    model.unet.save_pretrained(folder / "unet")
    model.vae.save_pretrained(folder / "vae")
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps({"_class_name": "DDIMScheduler", **model.scheduler_config}))
    tok = folder / "tokenizer"
    tok.mkdir()
    (tok / "vocab.json").write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2}))
    (tok / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(tok / "vocab.json"), str(tok / "merges.txt")).save_pretrained(tok)
    torch.manual_seed(0)
    CLIPTextModel(tiny_text_encoder_config(model.unet.config.cross_attention_dim)).save_pretrained(folder / "text_encoder")
    return folder


@pytest.mark.slow
def test_engine_writes_a_rollingdepth_pass(model, clip, tmp_path, monkeypatch):
    """``core.depth.run_depth(engine="rollingdepth")`` end to end with the tiny checkpoint folder."""
    from core.depth.job import DepthJob, run_depth

    weights = _save_checkpoint(model, tmp_path / "ckpt")
    monkeypatch.setitem(PRESETS, "fast", FAST_TEST)
    out = run_depth(DepthJob(input=clip, output=tmp_path / "pass", engine="rollingdepth", preset="fast",
                             weights=weights, device="cpu", shots=False))
    dp = DepthPass.open(out)
    assert len(dp) == 8 and (dp.info.width, dp.info.height) == (64, 48)
    assert dp.info.model["engine"] == "rollingdepth" and dp.info.kind == "relative_inverse_depth"
    frames = np.stack([d for _, d in dp.frames()])
    assert np.isfinite(frames).all() and frames.std() > 0


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory) -> tuple[Path, Path]:
    """A 58-frame 64x48 clip with a hard cut at frame 30, and its second shot as a video of its own."""
    from tests.depth.videos import scene_frames, write_video

    d = tmp_path_factory.mktemp("rdcut")
    a, b = list(scene_frames(30, 64, 48, seed=1)), list(scene_frames(28, 64, 48, seed=2))
    return write_video(d / "cut.mp4", a + b), write_video(d / "second.mp4", b)


def _rd_job(src: Path, out: Path, weights: Path):
    from core.depth.job import DepthJob

    return DepthJob(input=src, output=out, engine="rollingdepth", preset="fast", weights=weights, device="cpu")


def test_engine_with_several_shots_runs_each_on_its_own(model, cut_clip, tmp_path, monkeypatch):
    """Shot detection on: two shots, and the second one's depth is exactly that of the same frames as a video of
    their own (the co-alignment and the shared noise never reach across the cut)."""
    from core.depth.job import run_depth

    src, second = cut_clip
    weights = _save_checkpoint(model, tmp_path / "ckpt")
    monkeypatch.setitem(PRESETS, "fast", FAST_TEST)
    stages = []
    dp = DepthPass.open(run_depth(_rd_job(src, tmp_path / "p", weights), on_progress=lambda p: stages.append(p.stage)))
    assert [(s.start, s.end) for s in dp.info.shots] == [(0, 30), (30, 58)] and len(dp) == 58
    assert stages[0] == "scan"  # it needs each shot's length before it starts: the cuts come from a scan first
    alone = DepthPass.open(run_depth(_rd_job(second, tmp_path / "q", weights)))
    assert [(s.start, s.end) for s in alone.info.shots] == [(0, 28)]
    for i in range(28):
        np.testing.assert_array_equal(dp.read(30 + i), alone.read(i))
    # each shot is normalised on its own: the first shot's depth is not that of the whole clip as one shot
    whole = DepthPass.open(run_depth(replace(_rd_job(src, tmp_path / "r", weights), shots=False)))
    assert len(whole.info.shots) == 1 and not np.allclose(whole.read(45), dp.read(45), atol=1e-3)


def test_engine_interrupted_in_the_second_shot_resumes_to_the_same_files(model, cut_clip, tmp_path, monkeypatch):
    """Stopped while the second shot is written, run again: the finished first shot is kept (RollingDepth runs once
    more, for the second shot only) and every file equals an uninterrupted run's."""
    import core.depth.rollingdepth as rd
    from core.depth.job import run_depth
    from tests.helpers import stop_after_frames

    src, _ = cut_clip
    weights = _save_checkpoint(model, tmp_path / "ckpt")
    monkeypatch.setitem(PRESETS, "fast", FAST_TEST)
    ref = run_depth(_rd_job(src, tmp_path / "ref", weights))
    target = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run_depth(_rd_job(src, target, weights), on_progress=stop_after_frames(45))
    assert not (target / "depth_pass.json").exists()

    calls = []
    estimate = rd.estimate_shot
    monkeypatch.setattr(rd, "estimate_shot", lambda model, frames, n, cfg: calls.append(n) or estimate(model, frames, n, cfg))
    run_depth(_rd_job(src, target, weights))
    assert calls == [28]  # only the unfinished second shot is computed again
    files = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())
    for f in files:
        assert (ref / f).read_bytes() == (target / f).read_bytes(), f


def test_streamed_merge_equals_the_in_memory_merge_of_the_decoded_snippets(model):
    """``merged_frames`` (what the engine runs: decodes each frame's latents as it merges) gives, frame by frame,
    what ``merge_frames`` (the merge the co-alignment fixture checks against the reference) gives for the same
    snippets decoded up front."""
    from core.depth.rollingdepth.coalign import Alignment, merge_frames
    from core.depth.rollingdepth.latents import decode_depth
    from core.depth.rollingdepth.pipeline import merged_frames
    from core.depth.rollingdepth.snippets import snippet_indices

    seq_len = 7
    indices = [snippet_indices(seq_len, 3, 1), snippet_indices(seq_len, 3, 2)]
    gen = torch.Generator().manual_seed(0)
    latents = [torch.randn(len(idx), 3, 4, 6, 8, generator=gen) for idx in indices]
    alignment = Alignment([torch.rand(len(idx), generator=gen) + 0.5 for idx in indices],
                          [torch.rand(len(idx), generator=gen) - 0.5 for idx in indices], -0.25, np.zeros(0))
    with torch.no_grad():
        snippets = [decode_depth(model.vae, lat.flatten(0, 1)).unflatten(0, lat.shape[:2]) for lat in latents]
        expected = merge_frames(snippets, indices, seq_len, alignment)
        streamed = torch.stack(list(merged_frames(model, latents, indices, seq_len, alignment, FAST_TEST)))
    assert streamed.shape == expected.shape == (seq_len, 48, 64)
    torch.testing.assert_close(streamed, expected, atol=1e-5, rtol=1e-5)
    # and it is a real merge: frame 3 (in 3 snippets of dilation 1, at positions 2, 1, 0) is none of their views
    assert all(not torch.allclose(streamed[3], snippets[0][k, 3 - k], atol=1e-4) for k in (1, 2, 3))
