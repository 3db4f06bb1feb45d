"""core.stereo: depth pass -> stereo 3D video (disparity, view synthesis, packing layouts, stereo metadata)."""

from core.stereo.warp import WarpResult, dilate_foreground, synthesize_views, warp_view

__all__ = ["WarpResult", "dilate_foreground", "synthesize_views", "warp_view"]
