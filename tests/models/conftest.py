"""Shared helpers of the model tests: the VDA fixtures beside the checkout, cached synthetic weights."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest
import torch

from .vda_fixture_files import layout_path


@pytest.fixture(scope="session")
def state_dict_for(make_weights: ModuleType) -> Callable[[str], dict[str, torch.Tensor]]:
    """encoder -> synthetic state dict, generated once per session (vitl takes 12 s or more)."""
    cache: dict[str, dict[str, torch.Tensor]] = {}

    def get(encoder: str) -> dict[str, torch.Tensor]:
        if encoder not in cache:
            cache[encoder] = make_weights.make_state_dict(str(layout_path(encoder)))
        return cache[encoder]

    return get


@pytest.fixture(scope="session")
def model_for(state_dict_for: Callable[[str], dict[str, torch.Tensor]]) -> Callable[[str], torch.nn.Module]:
    """encoder -> VideoDepthAnything with the synthetic weights, float32, eval mode (built once per session)."""
    from core.models.vda import VideoDepthAnything

    cache: dict[str, torch.nn.Module] = {}

    def get(encoder: str) -> torch.nn.Module:
        if encoder not in cache:
            with torch.device("meta"):  # no random initialisation (seconds for vitl): the weights are assigned
                model = VideoDepthAnything(encoder)
            model.load_state_dict(state_dict_for(encoder), strict=True, assign=True)
            cache[encoder] = model.eval()
        return cache[encoder]

    return get
