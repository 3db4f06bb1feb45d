from pathlib import Path

import pytest

from tests.shared_data import SHARED


@pytest.fixture
def shared_dir() -> Path:
    """The shared read-only data folder beside the checkout."""
    return SHARED


@pytest.fixture(scope="session")
def stills():
    """The three ray-cast still scenes at 320x180 (a few seconds to render)."""
    from .scene import STILLS, render_view

    return {name: render_view(make(320, 180)) for name, make in STILLS.items()}
