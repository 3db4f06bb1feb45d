"""Depth accuracy (AbsRel, delta1 after a per-video inverse-depth fit), temporal consistency (TAE), stereo views."""

from core.metrics.depth import Alignment, DepthScores, abs_rel, delta1, evaluate_video, fit_alignment
from core.metrics.stereo import RegionScore, depth_edges, region_masks, score_view, ssim_map, trmse
from core.metrics.temporal import pose_matrix, reprojection_abs_rel, tae

__all__ = [
    "Alignment",
    "DepthScores",
    "RegionScore",
    "abs_rel",
    "delta1",
    "depth_edges",
    "evaluate_video",
    "fit_alignment",
    "pose_matrix",
    "region_masks",
    "reprojection_abs_rel",
    "score_view",
    "ssim_map",
    "tae",
    "trmse",
]
