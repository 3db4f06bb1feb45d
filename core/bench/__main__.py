"""Benchmarks: ``python -m core.bench NAME [options]``; ``python -m core.bench`` lists them.

Each benchmark is a module ``core/bench/NAME.py`` with ``main(argv) -> int`` that prints its figures.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence

import core.bench
from core.cli import run_main, setup_logging
from core.errors import DepthshotError


def available() -> list[str]:
    """Names of the benchmark modules in this package (``stereo_quality`` is called ``stereo-quality``)."""
    mods = pkgutil.iter_modules(core.bench.__path__)
    return sorted(m.name.replace("_", "-") for m in mods if not m.name.startswith("_"))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    names = available()
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m core.bench NAME [options]\nbenchmarks: " + ", ".join(names))
        return 0
    name, rest = args[0], args[1:]
    if name not in names:
        raise DepthshotError(f"unknown benchmark {name!r} (available: {', '.join(names)})")
    setup_logging()
    return int(importlib.import_module(f"core.bench.{name.replace('-', '_')}").main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
