"""Fixtures shared by every test area."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.shared_data import VDA_FIXTURES, load_make_weights


ADDON_TESTS = Path(__file__).resolve().parent / "blender_addon"
ADDON_SKIP = "the add-on's tests need bpy: they run in .venv-blender (bpy 5.0.1, Python 3.11) through ./test.sh"


class _SkippedModule(pytest.File):
    """A test module that cannot be imported here, reported as one skip instead of silently not collected."""

    def collect(self):
        pytest.skip(ADDON_SKIP)


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Without bpy, each of the add-on's test modules is one visible skip (the reason says where they run)."""
    if module_path.parent == ADDON_TESTS and importlib.util.find_spec("bpy") is None:
        return _SkippedModule.from_parent(parent, path=module_path)
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``cuda`` skip, visibly, where torch sees no CUDA device."""
    if item.get_closest_marker("cuda") is not None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device (scripts/gpu_check.sh runs pytest -m cuda on a GPU machine)")


@pytest.fixture(scope="session")
def make_weights() -> ModuleType:
    """The fixtures' ``make_weights.py``, imported by path."""
    return load_make_weights()


@pytest.fixture(scope="session")
def vits_weights(make_weights: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic vits (vda-s) state dict of the fixtures, saved once per session as an official-style ``.pth``."""
    import torch

    path = tmp_path_factory.mktemp("weights") / "vits_synthetic.pth"
    torch.save(make_weights.make_state_dict(str(VDA_FIXTURES / "layout_vits.json")), path)
    return path


@pytest.fixture
def http_folder(tmp_path):
    """A real HTTP server on 127.0.0.1 serving ``tmp_path`` (a URL source as FFmpeg's http protocol reads it)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()

