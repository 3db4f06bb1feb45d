"""The depth engine: long-video depth with key-frame referencing, per shot, resumable; the depth pass format."""

from core.depth.job import DepthJob, Progress, add_engine_arguments, ensure_pass, run_depth

__all__ = ["DepthJob", "Progress", "add_engine_arguments", "ensure_pass", "run_depth"]
