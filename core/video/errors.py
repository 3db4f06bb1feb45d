"""Errors of the video layer: each is a ``DepthshotError`` whose message is one line naming the file."""

from core.errors import DepthshotError


class VideoError(DepthshotError):
    """Base class of every expected video input/output failure."""


class VideoPathError(VideoError):
    """A path cannot be read or written (missing, a folder, no permission, the input itself)."""


class NotAVideoError(VideoError):
    """FFmpeg cannot open the file as a media container."""


class NoVideoStreamError(VideoError):
    """The container opens but holds no video stream (audio only, a still cover picture, ...)."""


class EmptyVideoError(VideoError):
    """The video stream decodes to zero frames."""


class TruncatedVideoError(VideoError):
    """Decoding stopped early: the file is cut short or corrupt after ``frames_decoded`` frames.

    ``frames_decoded`` frames (the last at ``last_pts`` seconds) were delivered before the error.
    """

    def __init__(self, message: str, frames_decoded: int, last_pts: float | None) -> None:
        super().__init__(message)
        self.frames_decoded = frames_decoded
        self.last_pts = last_pts


class EncodeSettingsError(VideoError):
    """The requested encode cannot be done (odd size for a subsampled format, codec/container mismatch, ...)."""


class CorruptVideoError(VideoError):
    """Decode errors damaged more frames than allowed (the stream is corrupt in the middle)."""
