import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the test helpers (scene.py)


@pytest.fixture
def shared_dir() -> Path:
    """The shared read-only data folder beside the checkout."""
    return Path(__file__).resolve().parents[2] / ".." / "shared"
