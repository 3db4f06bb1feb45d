"""The depth engine: long-video depth with key-frame referencing, per shot, resumable; the depth pass format."""

from core.depth.job import DepthJob, Progress, run_depth

__all__ = ["DepthJob", "Progress", "run_depth"]
