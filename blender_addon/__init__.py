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


def register():
    import bpy

    from . import properties

    for cls in _classes():
        bpy.utils.register_class(cls)
    bpy.types.Scene.depthshot = bpy.props.PointerProperty(type=properties.DepthshotSettings)
    bpy.app.handlers.persistent(_stop_runs_on_load)  # marks it to survive file loads
    bpy.app.handlers.load_pre.append(_stop_runs_on_load)


def unregister():
    import bpy

    from .run_state import RUNS

    if _stop_runs_on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_stop_runs_on_load)
    RUNS.stop_all()
    del bpy.types.Scene.depthshot
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
