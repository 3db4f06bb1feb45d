"""Depthshot for Blender: consistent depth from a Sequencer movie strip, turned into 3D.

The depth itself runs in a separate Python process (``python -m core.worker``); nothing here imports torch
or the depthshot core.
"""

import bpy

from . import operators, panel, preferences, properties

_CLASSES = properties.CLASSES + preferences.CLASSES + operators.CLASSES + panel.CLASSES


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.depthshot = bpy.props.PointerProperty(type=properties.DepthshotSettings)


def unregister():
    del bpy.types.Scene.depthshot
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
