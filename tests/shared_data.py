"""Where the tests find the shared read-only data: ``../shared/fixtures`` (golden data of the reference
implementations) and ``../shared/data`` (real footage), beside the checkout as in CI."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
VDA_FIXTURES = SHARED / "fixtures" / "vda"
RD_FIXTURES = SHARED / "fixtures" / "rollingdepth"
TUM = SHARED / "data" / "tum_fr1_xyz"


def load_make_weights() -> ModuleType:
    """The VDA fixtures' ``make_weights.py`` (deterministic synthetic weights), imported by path."""
    spec = importlib.util.spec_from_file_location("make_weights", VDA_FIXTURES / "make_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
