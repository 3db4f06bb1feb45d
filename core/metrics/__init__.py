"""Depth accuracy (AbsRel, delta1 after a per-video inverse-depth fit) and temporal consistency (TAE)."""

from core.metrics.depth import Alignment, DepthScores, abs_rel, delta1, evaluate_video, fit_alignment
from core.metrics.temporal import pose_matrix, reprojection_abs_rel, tae

__all__ = [
    "Alignment",
    "DepthScores",
    "abs_rel",
    "delta1",
    "evaluate_video",
    "fit_alignment",
    "pose_matrix",
    "reprojection_abs_rel",
    "tae",
]
