from pathlib import Path

import pytest

from tests.shared_data import SHARED


@pytest.fixture
def shared_dir() -> Path:
    """The shared read-only data folder beside the checkout."""
    return SHARED
