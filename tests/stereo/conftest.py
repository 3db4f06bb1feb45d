from pathlib import Path

import pytest


@pytest.fixture
def shared_dir() -> Path:
    """The shared read-only data folder beside the checkout."""
    return Path(__file__).resolve().parents[2] / ".." / "shared"
