"""Depthshot for Blender: consistent depth from a Sequencer movie strip, turned into 3D.

The depth itself runs in a separate Python process (``python -P -m core.worker``); nothing here imports torch
or the depthshot core. The bpy modules are imported in ``register`` so the plain-Python ones (``worker_protocol``,
``worker_process``, ``jobs``, ``pass_manifest``, ``camera_model``) import and test without Blender.
"""


def _classes():
    from . import operators, panel, preferences, properties

    return properties.CLASSES + preferences.CLASSES + operators.CLASSES + panel.CLASSES


def _stop_runs_on_load(*_args):
    """Loading a file ends the modal operators of the old one: stop their workers and forget the run state."""
    from .run_state import RUNS

    RUNS.stop_all()


def _follow_strips(scene, *_args):
    """Before each frame (playback, render) and after edits: footage textures and per-frame keys (posed camera,
    fused meshes' shots) follow their moved strips."""
    from .scene_build import sync_footage, sync_keys

    sync_footage(scene)
    sync_keys(scene)


_HANDLERS = (("load_pre", _stop_runs_on_load), ("frame_change_pre", _follow_strips),
             ("depsgraph_update_post", _follow_strips))


def register():
    import bpy

    from . import properties

    for cls in _classes():
        bpy.utils.register_class(cls)
    bpy.types.Scene.depthshot = bpy.props.PointerProperty(type=properties.DepthshotSettings)
    for event, handler in _HANDLERS:
        bpy.app.handlers.persistent(handler)  # marks it to survive file loads
        getattr(bpy.app.handlers, event).append(handler)


def unregister():
    import bpy

    from .run_state import RUNS

    for event, handler in _HANDLERS:
        handlers = getattr(bpy.app.handlers, event)
        if handler in handlers:
            handlers.remove(handler)
    RUNS.stop_all()
    del bpy.types.Scene.depthshot
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
