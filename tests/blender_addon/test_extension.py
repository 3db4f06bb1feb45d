"""The extension builds with Blender's tool, installs from its zip, enables, and (un)registers cleanly."""

import addon_utils
import bpy

from .conftest import MODULE

OPERATORS = ("estimate_depth", "load_depth_pass", "cancel", "build_scene", "render_stereo", "export_geometry",
             "create_worker_env")


def _registered() -> dict[str, bool]:
    return {
        "panel": hasattr(bpy.types, "DEPTHSHOT_PT_panel"),
        "settings": hasattr(bpy.types.Scene, "depthshot"),
        **{op: hasattr(bpy.types, f"DEPTHSHOT_OT_{op}") for op in OPERATORS},
    }


def test_installed_extension_registers_panel_and_operators(addon):
    assert addon.__name__ == MODULE
    assert all(_registered().values()), _registered()
    assert bpy.types.DEPTHSHOT_PT_panel.bl_space_type == "SEQUENCE_EDITOR"
    assert bpy.types.DEPTHSHOT_PT_panel.bl_region_type == "UI"


def test_disable_and_enable_again(addon):
    addon_utils.disable(MODULE)
    assert not any(_registered().values()), _registered()
    addon_utils.enable(MODULE, default_set=True)
    assert all(_registered().values()), _registered()


def test_user_folder_is_outside_the_extension(addon):
    user = bpy.utils.extension_path_user(MODULE)
    assert "/.user/" in user.replace("\\", "/")
    assert not user.startswith(addon.__path__[0])


def test_the_extension_is_gpl_and_says_what_it_downloads(extension_zip):
    import tomllib
    import zipfile

    from .conftest import REPO

    manifest = tomllib.loads((REPO / "blender_addon" / "blender_manifest.toml").read_text())
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]  # what extensions.blender.org accepts
    assert "weights" in manifest["permissions"]["network"]
    with zipfile.ZipFile(extension_zip) as z:
        assert "GNU GENERAL PUBLIC LICENSE" in z.read("LICENSE").decode()[:200]
        assert "Version 3" in z.read("LICENSE").decode()[:200]
    assert "Apache License" in (REPO / "LICENSE").read_text()[:200]  # the core keeps its own
