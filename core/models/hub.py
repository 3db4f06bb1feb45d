"""The one way checkpoints come from the Hugging Face hub: the local cache, else a download, never offline.

``fetch(source)`` returns the snapshot folder holding ``source.required``: from the cache when it is complete there,
otherwise (unless ``HF_HUB_OFFLINE`` is set, which gives a one-line error with ``source.hint``) downloaded with
``huggingface_hub`` after the licence has been logged. A path the user gives explicitly (``--weights``) never
reaches this module: each loader checks it and uses it as is. Verifying and reading the files safely is the
loader's next step (``core.models.weights`` for VDA, ``core.depth.rollingdepth.weights`` for RollingDepth).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import DepthshotError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubSource:
    """Where a checkpoint lives on the hub and what a complete copy holds.

    ``patterns``: files to fetch (``allow_patterns`` globs); ``required``: paths that must exist in the snapshot;
    ``licence``: one line shown before the first download; ``what``: e.g. "weights of vda-s"; ``hint``: how to get
    the files where there is no network; ``size``: download size for the log, e.g. "1.3 GB".
    """

    repo_id: str
    patterns: tuple[str, ...]
    required: tuple[str, ...]
    licence: str
    what: str
    hint: str
    size: str = ""


def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` forbids network access (read now, not at import time)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return bool(constants.HF_HUB_OFFLINE) or value in ("1", "true", "yes", "on")


def _complete(folder: Path, source: HubSource) -> bool:
    return all((folder / name).exists() for name in source.required)


def fetch(source: HubSource) -> Path:
    """The local snapshot folder of ``source`` (cache, else download with the licence shown first)."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    patterns = list(source.patterns)
    try:
        folder = Path(huggingface_hub.snapshot_download(source.repo_id, allow_patterns=patterns, local_files_only=True))
        if _complete(folder, source):
            return folder
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    if offline():
        from huggingface_hub import constants

        raise DepthshotError(
            f"{source.what} ({source.repo_id}) are not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and "
            f"HF_HUB_OFFLINE is set; {source.hint}"
        )
    log.warning("downloading %s from %s%s; licence: %s", source.what, source.repo_id,
                f" (about {source.size})" if source.size else "", source.licence)
    try:
        folder = Path(huggingface_hub.snapshot_download(source.repo_id, allow_patterns=patterns))
    except Exception as exc:  # network, auth, disk: all end the same way for the user
        raise DepthshotError(f"could not download {source.what} ({exc.__class__.__name__}); {source.hint}") from exc
    if not _complete(folder, source):
        missing = next(name for name in source.required if not (folder / name).exists())
        raise DepthshotError(f"the download of {source.what} from {source.repo_id} has no {missing}; {source.hint}")
    return folder
