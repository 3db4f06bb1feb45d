"""Optional features and the extra that installs each: a feature asked for without its packages is one line saying
what to install, raised before anything is created."""

from __future__ import annotations

import importlib.util

from core.errors import DepthshotError

# extra -> the import names it provides (pyproject.toml's [project.optional-dependencies])
EXTRAS: dict[str, tuple[str, ...]] = {
    "rollingdepth": ("diffusers", "transformers"),
    "ray": ("ray",),
}


def missing(extra: str) -> list[str]:
    """The import names of ``extra`` that cannot be imported here (empty: the extra is installed)."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, feature: str) -> None:
    """Raise ``DepthshotError`` naming the extra to install when ``feature`` (e.g. "the rollingdepth engine") lacks
    any of ``extra``'s packages."""
    absent = missing(extra)
    if absent:
        raise DepthshotError(f"{feature} needs {', '.join(absent)}: install the [{extra}] extra "
                             f"(pip install 'depthshot[{extra}]')")
