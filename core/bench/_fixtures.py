"""Where the benchmarks find the shared test data: given on the command line, else from an environment variable,
else ``../shared`` relative to the current directory (a checkout beside ``shared/``, as in CI) — never relative to
the installed package.

- ``--fixtures DIR``: the VDA fixtures folder (``make_weights.py``, ``layout_<encoder>.json``, ``forward_*.npz``);
  ``$DEPTHSHOT_FIXTURES``, else ``../shared/fixtures/vda``.
- ``--data DIR``: the TUM RGB-D fr1/xyz clip; ``$DEPTHSHOT_TUM``, else ``../shared/data/tum_fr1_xyz``.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from core.errors import DepthshotError

FIXTURES_ENV = "DEPTHSHOT_FIXTURES"
# the benchmarks' model names and the VDA encoder whose synthetic weights stand in for them
ENCODERS = {"vda-s": "vits", "vda-b": "vitb", "vda-l": "vitl"}
TUM_ENV = "DEPTHSHOT_TUM"


def default_fixtures() -> Path:
    """``$DEPTHSHOT_FIXTURES``, else ``../shared/fixtures/vda`` from the current directory."""
    return Path(os.environ.get(FIXTURES_ENV) or Path("..") / "shared" / "fixtures" / "vda")


def default_tum() -> Path:
    """``$DEPTHSHOT_TUM``, else ``../shared/data/tum_fr1_xyz`` from the current directory."""
    return Path(os.environ.get(TUM_ENV) or Path("..") / "shared" / "data" / "tum_fr1_xyz")


def add_fixtures_argument(parser: argparse.ArgumentParser) -> None:
    """``--fixtures DIR`` (None: ``default_fixtures()``, resolved when the fixtures are first needed)."""
    parser.add_argument("--fixtures", type=Path, default=None,
                        help=f"VDA fixtures folder with make_weights.py and layout_*.json (default: ${FIXTURES_ENV}, "
                             "else ../shared/fixtures/vda from the current directory)")


def add_tum_argument(parser: argparse.ArgumentParser) -> None:
    """``--data DIR`` (None: ``default_tum()``)."""
    parser.add_argument("--data", type=Path, default=None,
                        help=f"TUM fr1/xyz clip folder (default: ${TUM_ENV}, else ../shared/data/tum_fr1_xyz from "
                             "the current directory)")


def fixtures_dir(path: Path | None = None) -> Path:
    """``path`` (or the default) after checking it holds ``make_weights.py``; DepthshotError otherwise."""
    folder = Path(path) if path is not None else default_fixtures()
    if not (folder / "make_weights.py").is_file():
        raise DepthshotError(f"no VDA fixtures in {folder} (make_weights.py missing): pass --fixtures DIR or set "
                             f"{FIXTURES_ENV}")
    return folder


@functools.lru_cache(maxsize=4)
def _make_weights(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_weights", folder / "make_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_state_dict(encoder: str, fixtures: Path | None = None) -> dict[str, Any]:
    """The fixtures' deterministic synthetic state dict of VDA ``encoder`` (vits, vitb, vitl), as torch tensors."""
    folder = fixtures_dir(fixtures)
    return _make_weights(folder.resolve()).make_state_dict(str(folder / f"layout_{encoder}.json"))


def synthetic_weights(folder: Path, encoder: str = "vits", fixtures: Path | None = None,
                      state: dict[str, Any] | None = None) -> Path:
    """``synthetic_state_dict`` (or ``state``, one made already) saved as ``folder/<encoder>_synthetic.pth`` (an
    official-style checkpoint)."""
    import torch

    path = folder / f"{encoder}_synthetic.pth"
    torch.save(synthetic_state_dict(encoder, fixtures) if state is None else state, path)
    return path


def add_model_arguments(parser: argparse.ArgumentParser, input_size: int) -> None:
    """The model options a benchmark that runs one VDA model in child processes takes: ``--input-size``,
    ``--model``, ``--weights``, ``--fixtures``, ``--device``, ``--precision`` (fp32) and ``--threads`` (1)."""
    parser.add_argument("--input-size", type=int, default=input_size)
    parser.add_argument("--model", default="vda-s")
    parser.add_argument("--weights", type=Path, help="checkpoint (default: synthetic weights for the model's encoder)")
    add_fixtures_argument(parser)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def model_weights(args: argparse.Namespace, folder: Path) -> Path:
    """``--weights``, else the synthetic weights of ``--model``'s encoder saved in ``folder``."""
    return args.weights or synthetic_weights(folder, ENCODERS[args.model.removesuffix("-metric")], args.fixtures)


def model_argv(args: argparse.Namespace, weights: Path) -> list[str]:
    """The options of ``add_model_arguments`` as command-line words for a child process (``weights`` resolved)."""
    return ["--model", args.model, "--weights", str(weights), "--input-size", str(args.input_size),
            "--device", args.device, "--precision", args.precision, "--threads", str(args.threads)]


def run_child(cmd: list[str], threads: int) -> dict[str, Any] | None:
    """Run a benchmark's child process (``OMP_NUM_THREADS=threads``) and return the JSON object its last stdout
    line holds; None after printing the child's last error line when it failed."""
    import json
    import subprocess

    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)},
                         check=False)
    if res.returncode != 0:
        print(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"run failed ({res.returncode})")
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])
