"""Shared paths for the video tests."""

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
TUM_RGB = SHARED / "data" / "tum_fr1_xyz" / "rgb.mp4"


@pytest.fixture
def tum_rgb() -> Path:
    """The real 640x480, 30 fps, 300-frame TUM fr1/xyz clip (skipped when the shared data is absent)."""
    if not TUM_RGB.exists():
        pytest.skip(f"shared data missing: {TUM_RGB}")
    return TUM_RGB
