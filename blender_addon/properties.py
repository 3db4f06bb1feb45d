"""Per-scene settings of the Sequencer panel and the state of a running depth job."""

from __future__ import annotations

import bpy

MODELS = [
    ("vda-s", "VDA Small", "Video Depth Anything ViT-S, relative (Apache-2.0)"),
    ("vda-b", "VDA Base", "Video Depth Anything ViT-B, relative"),
    ("vda-l", "VDA Large", "Video Depth Anything ViT-L, relative"),
    ("vda-s-metric", "VDA Small Metric", "Video Depth Anything ViT-S, metres"),
    ("vda-b-metric", "VDA Base Metric", "Video Depth Anything ViT-B, metres"),
    ("vda-l-metric", "VDA Large Metric", "Video Depth Anything ViT-L, metres"),
]


class DepthshotSettings(bpy.types.PropertyGroup):
    model: bpy.props.EnumProperty(name="Model", items=MODELS, default="vda-s")
    weights: bpy.props.StringProperty(
        name="Weights", description="Local checkpoint (.pth); empty: the Hugging Face cache", subtype="FILE_PATH"
    )
    precision: bpy.props.EnumProperty(
        name="Precision",
        items=[
            ("auto", "Auto", "BF16/FP16 autocast on a GPU, FP32 on the CPU"),
            ("fp32", "FP32", ""),
            ("fp16", "FP16", "CUDA only"),
            ("bf16", "BF16", ""),
        ],
        default="auto",
    )
    input_size: bpy.props.IntProperty(name="Input Size", default=518, min=28, max=2048, step=14)
    preview_size: bpy.props.IntProperty(
        name="Preview Size", description="Preview Depth: the streaming engine's input size (a multiple of 14)",
        default=252, min=28, max=2048, step=14,
    )
    preview_frames: bpy.props.IntProperty(
        name="Preview Frames", description="Preview Depth: this many frames around the playhead (0: the whole strip)",
        default=48, min=0, soft_max=1000,
    )
    shots: bpy.props.BoolProperty(name="Shot Detection", description="Process each shot on its own", default=True)
    max_res: bpy.props.IntProperty(
        name="Max Resolution", description="Estimate at most this many pixels on the long side (0: the video's size)",
        default=0, min=0, max=16384,
    )
    near: bpy.props.FloatProperty(name="Near", description="Relative depth: the nearest depth, in metres",
                                  default=1.0, min=1e-4, soft_max=100.0)
    far: bpy.props.FloatProperty(name="Far", description="Relative depth: the farthest depth, in metres",
                                 default=10.0, min=2e-4, soft_max=1000.0)
    metric_scale: bpy.props.FloatProperty(name="Metric Scale", description="Metric depth: multiply the metres by",
                                          default=1.0, min=1e-4, soft_max=100.0)
    fov: bpy.props.FloatProperty(
        name="FOV Override", description="Horizontal field of view in degrees (0: the pass's, else 60)",
        default=0.0, min=0.0, max=179.0,
    )
    build_mesh: bpy.props.BoolProperty(name="Displaced Mesh", default=True)
    build_points: bpy.props.BoolProperty(name="Point Cloud", default=False)
    build_stereo: bpy.props.BoolProperty(name="Stereo Rig", default=True)
    world_space: bpy.props.BoolProperty(
        name="World Space (Poses)",
        description="When the pass records camera poses: key the camera per frame from them, so the geometry sits "
                    "in the shot's world",
        default=True,
    )
    fused_voxel: bpy.props.FloatProperty(
        name="Fused Voxel", description="Fused Mesh: the TSDF voxel size, in scene metres", default=0.02, min=1e-4,
        soft_max=1.0, precision=3,
    )
    grid_x: bpy.props.IntProperty(name="Grid X", default=192, min=2, max=4096)
    grid_y: bpy.props.IntProperty(name="Grid Y", default=108, min=2, max=4096)
    edge_angle: bpy.props.FloatProperty(
        name="Edge Angle",
        description="Cut the mesh where the surface is seen more obliquely than this (depth steps); 90 keeps all",
        default=85.0, min=1.0, max=90.0, subtype="NONE",
    )
    # the state of a running job is not here: PropertyGroup values are saved into the .blend (see run_state)

CLASSES = (DepthshotSettings,)
