"""depthshot: temporally consistent video depth and what to build from it."""

__version__ = "0.1.0"
