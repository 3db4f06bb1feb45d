"""depthshot: temporally consistent video depth and what to build from it."""

from importlib.metadata import PackageNotFoundError, version

try:  # the one version number is pyproject.toml's, read from the installed package's metadata
    __version__ = version("depthshot")
except PackageNotFoundError:  # a checkout imported without being installed (e.g. the add-on's test environment)
    __version__ = "0+unknown"
