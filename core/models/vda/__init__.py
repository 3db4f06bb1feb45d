"""Video Depth Anything (arXiv 2501.12375): modules keyed one-to-one with the official checkpoints."""

from core.models.vda.video_depth_anything import ENCODERS, EncoderConfig, VideoDepthAnything

__all__ = ["ENCODERS", "EncoderConfig", "VideoDepthAnything"]
