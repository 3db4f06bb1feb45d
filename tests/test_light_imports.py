"""Light modules stay light: importing them in a fresh interpreter must not pull in heavy dependencies."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "scenedetect", "diffusers", "transformers", "open3d", "trimesh")


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("core.depth.depth_pass", HEAVY),
        ("core.stereo.disparity", HEAVY),
        ("core.geometry.camera", HEAVY),
        ("core.depth.job", HEAVY),  # every CLI parses its options before torch is loaded
        ("core.depth.engines", HEAVY),
        ("core.depth.rollingdepth.presets", ("diffusers", "transformers", "scenedetect")),
    ],
)
def test_module_does_not_import_heavy_dependencies(module, forbidden):
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    assert module in loaded
    assert not [m for m in forbidden if m in loaded]


def test_lazy_package_names_still_resolve():
    import core.depth
    import core.depth.rollingdepth
    import core.stereo

    assert callable(core.depth.run_depth) and callable(core.stereo.synthesize_views)
    assert "fast" in core.depth.rollingdepth.PRESETS
    with pytest.raises(AttributeError):
        core.depth.no_such_name  # noqa: B018
