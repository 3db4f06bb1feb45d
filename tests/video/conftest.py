"""Shared paths for the video tests."""

from pathlib import Path

import pytest

from tests.shared_data import TUM

TUM_RGB = TUM / "rgb.mp4"


@pytest.fixture
def tum_rgb() -> Path:
    """The real 640x480, 30 fps, 300-frame TUM fr1/xyz clip (skipped when the shared data is absent)."""
    if not TUM_RGB.exists():
        pytest.skip(f"shared data missing: {TUM_RGB}")
    return TUM_RGB
