"""Weight registry and loader: official .pth and .safetensors forms, hub cache, clear errors, no network."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path, PurePosixPath

import pytest
import torch
from safetensors.torch import save_file

from core.errors import DepthshotError
from core.models import weights
from core.models.vda import VideoDepthAnything

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def vits_files(tmp_path_factory, state_dict_for) -> dict[str, Path]:
    """The synthetic vits weights written as the official ``.pth`` (torch.save of the state dict) and as safetensors."""
    folder = tmp_path_factory.mktemp("vits_weights")
    state = state_dict_for("vits")
    torch.save(state, folder / "video_depth_anything_vits.pth")
    save_file(state, str(folder / "video_depth_anything_vits.safetensors"))
    return {form: folder / f"video_depth_anything_vits.{form}" for form in ("pth", "safetensors")}


def test_registry_lists_the_six_official_checkpoints() -> None:
    assert set(weights.MODELS) == {"vda-s", "vda-b", "vda-l", "vda-s-metric", "vda-b-metric", "vda-l-metric"}
    for spec in weights.MODELS.values():
        assert spec.filename == f"{'metric_' if spec.metric else ''}video_depth_anything_{spec.encoder}.pth"
        assert spec.repo_id.startswith("depth-anything/")
        assert spec.sha256 is None or len(spec.sha256) == 64
        assert ("Apache-2.0" in spec.licence) == (spec.encoder == "vits")


@pytest.mark.parametrize("form", ["pth", "safetensors"])
def test_checkpoint_loads_strictly(vits_files, state_dict_for, form: str, caplog) -> None:
    path = vits_files[form]
    with caplog.at_level(logging.WARNING, logger="core.models.weights"):
        loaded = weights.load_vda("vda-s", weights=path)
    assert isinstance(loaded.model, VideoDepthAnything) and not loaded.model.training
    assert loaded.path == path and loaded.spec.model_id == "vda-s" and not loaded.model.metric
    assert loaded.sha256 == weights.file_sha256(path)
    got = loaded.model.state_dict()
    expected = state_dict_for("vits")
    assert list(got) == list(expected)
    assert all(got[k].dtype == torch.float32 and got[k].equal(v) for k, v in expected.items())
    # an explicit user file that is not the official one loads, with a warning naming it
    assert any("not the official" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)


def test_metric_id_uses_the_same_network(vits_files) -> None:
    loaded = weights.load_vda("vda-s-metric", weights=vits_files["pth"])
    assert loaded.model.metric and loaded.spec.metric and loaded.model.encoder == "vits"


@pytest.mark.parametrize("form", ["pth", "safetensors"])
def test_truncated_file_gives_clear_error(vits_files, tmp_path: Path, form: str) -> None:
    data = vits_files[form].read_bytes()
    broken = tmp_path / vits_files[form].name
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(DepthshotError, match="truncated or corrupted"):
        weights.load_vda("vda-s", weights=broken)


def test_vits_weights_for_a_larger_variant_are_refused(vits_files) -> None:
    with pytest.raises(DepthshotError, match=r"is a vits checkpoint \(vda-s / vda-s-metric\), but vda-b needs vitb"):
        weights.load_vda("vda-b", weights=vits_files["pth"])


def test_vitb_weights_for_vda_s_are_refused(tmp_path: Path) -> None:
    """A checkpoint with the exact vitb layout (tensors stored as broadcast zeros to keep the file tiny)."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in VideoDepthAnything("vitb").state_dict().items()}
    path = tmp_path / "video_depth_anything_vitb.pth"
    torch.save({k: torch.zeros(1).expand(s) for k, s in shapes.items()}, path)
    with pytest.raises(DepthshotError, match="is a vitb checkpoint .* but vda-s needs vits"):
        weights.load_vda("vda-s", weights=path)


def test_other_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "depth_anything_v2_vits.pth"
    torch.save({"pretrained.cls_token": torch.zeros(1, 1, 384)}, path)
    with pytest.raises(DepthshotError, match="not a Video Depth Anything vits checkpoint"):
        weights.load_vda("vda-s", weights=path)


def test_pickled_objects_are_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"x": torch.zeros(1), "obj": PurePosixPath("x")}, path)  # a non-tensor object
    with pytest.raises(DepthshotError, match="cannot read weights file"):
        weights.load_vda("vda-s", weights=path)


def test_missing_path_and_unknown_model() -> None:
    with pytest.raises(DepthshotError, match="weights file not found"):
        weights.resolve_weights("vda-s", Path("/nonexistent/vda.pth"))
    with pytest.raises(DepthshotError, match="unknown model 'vda-xl'"):
        weights.resolve_weights("vda-xl")


def test_first_download_shows_the_licence(monkeypatch, vits_files, tmp_path) -> None:
    """The hub is faked (no network here): not cached, so the loader downloads, and logs the licence before."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    from tests.helpers import fake_hub

    repo, name = "depth-anything/Video-Depth-Anything-Large", "video_depth_anything_vitl.pth"
    snapshot = tmp_path / "snapshot"
    events = []

    def fake_download(repo_id: str, *, allow_patterns: list[str], local_files_only: bool = False) -> str:
        events.append(("call", repo_id, tuple(allow_patterns), local_files_only))
        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        snapshot.mkdir()
        (snapshot / name).symlink_to(vits_files["pth"])
        return str(snapshot)

    with fake_hub(monkeypatch, fake_download, events):
        assert weights.resolve_weights("vda-l") == snapshot / name
    assert [e[:4] for e in events if e[0] == "call"] == [("call", repo, (name,), True), ("call", repo, (name,), False)]
    kinds = [e[0] for e in events]
    assert kinds == ["call", "log", "call"]  # the licence is shown before the download starts
    assert "CC-BY-NC-4.0" in events[1][1]


_HUB_SCRIPT = textwrap.dedent(
    """
    import dataclasses, json, sys
    from core.errors import DepthshotError
    from core.models import weights

    result = {"cached": str(weights.resolve_weights("vda-s"))}
    try:
        weights.load_vda("vda-s")
    except DepthshotError as exc:
        result["sha_error"] = str(exc)
    try:
        weights.resolve_weights("vda-l")
    except DepthshotError as exc:
        result["offline_error"] = str(exc)
    # a registry entry whose SHA-256 is that of the cached file: loads from the cache without a warning
    spec = weights.MODELS["vda-s"]
    weights.MODELS["vda-s"] = dataclasses.replace(spec, sha256=weights.file_sha256(weights.resolve_weights("vda-s")))
    result["loaded_sha"] = weights.load_vda("vda-s").sha256
    print(json.dumps(result))
    """
)


def test_hub_cache_offline(tmp_path: Path, vits_files) -> None:
    """Resolution through a Hugging Face cache laid out on disk, with HF_HUB_OFFLINE=1 and a temporary HF_HOME."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = tmp_path / "hf" / "hub" / "models--depth-anything--Video-Depth-Anything-Small"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    shutil.copyfile(vits_files["pth"], snapshot / "video_depth_anything_vits.pth")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    # offline, and an endpoint that cannot be reached anyway: no network can be touched
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9")
    env["PYTHONPATH"] = str(REPO_ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", _HUB_SCRIPT], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(result["cached"]) == snapshot / "video_depth_anything_vits.pth"
    assert "does not match the official SHA-256 of vda-s" in result["sha_error"]
    assert "HF_HUB_OFFLINE" in result["offline_error"]
    hint = "hf download depth-anything/Video-Depth-Anything-Large video_depth_anything_vitl.pth"
    assert hint in result["offline_error"]
    assert "--weights" in result["offline_error"]
    assert result["loaded_sha"] == weights.file_sha256(vits_files["pth"])
