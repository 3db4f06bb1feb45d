"""Shared paths for the video tests."""

from pathlib import Path

import pytest

from tests import media_tools
from tests.shared_data import TUM

TUM_RGB = TUM / "rgb.mp4"


@pytest.fixture
def tum_rgb() -> Path:
    """The real 640x480, 30 fps, 300-frame TUM fr1/xyz clip (skipped when the shared data is absent)."""
    if not TUM_RGB.exists():
        pytest.skip(f"shared data missing: {TUM_RGB}")
    return TUM_RGB


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the ffmpeg-made inputs, shared by the whole session (each is made once, on first use)."""
    return tmp_path_factory.mktemp("media")


def _once(folder: Path, name: str, make) -> Path:
    marker = folder / f"{name}.path"
    if not marker.exists():
        marker.write_text(str(make()))
    return Path(marker.read_text())


@pytest.fixture(scope="session")
def tracks_mkv(media_dir: Path) -> Path:
    """See ``media_tools.tracks_input``: audio languages/titles/flags, forced SRT subtitles, chapters."""
    return _once(media_dir, "tracks_mkv", lambda: media_tools.tracks_input(media_dir, ".mkv"))


@pytest.fixture(scope="session")
def hdr10_mkv(media_dir: Path) -> Path:
    """See ``media_tools.hdr10_input``."""
    return _once(media_dir, "hdr10", lambda: media_tools.hdr10_input(media_dir))


@pytest.fixture(scope="session")
def hlg_mkv(media_dir: Path) -> Path:
    """See ``media_tools.hlg_input``."""
    return _once(media_dir, "hlg", lambda: media_tools.hlg_input(media_dir))


@pytest.fixture(scope="session")
def vfr_mp4(media_dir: Path) -> Path:
    """See ``media_tools.vfr_input``."""
    return _once(media_dir, "vfr", lambda: media_tools.vfr_input(media_dir))
