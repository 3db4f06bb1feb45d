"""``python -m core.bench ray-geometry``: ``core.pointcloud`` and ``core.mesh`` with ``--ray`` on local Ray
instances of 1 and 2 workers against the single process, on a depth pass (default: the bundled one).

Each command runs twice in this process without Ray (the second run is the reference: imports and caches warm),
then, for each worker count, a fresh local Ray instance (``ray.init(num_cpus=N)``, its start time printed apart)
runs it cold (worker processes start and import) and warm (the same workers). Every run writes into a new folder
and every Ray run's files are checked to equal the single-process files byte for byte.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from core.bench.soak import tree_digest
from core.errors import DepthshotError

BUNDLED = Path(__file__).resolve().parents[2] / "assets" / "tum_desk_depth"


def _commands() -> dict[str, tuple[Callable[[Sequence[str]], int], list[str]]]:
    from core import mesh, pointcloud

    return {"pointcloud": (pointcloud.main, ["--stride", "2"]), "mesh": (mesh.main, ["--stride", "4"])}


def _timed(main: Callable[[Sequence[str]], int], argv: list[str]) -> float:
    start = time.perf_counter()
    main(argv)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench ray-geometry", description=__doc__)
    p.add_argument("--pass", dest="depth_pass", type=Path, default=BUNDLED, help="depth pass (default: bundled)")
    p.add_argument("--frames", default="0-59", help="frames to write (default 0-59)")
    p.add_argument("--workers", default="1,2", help="local Ray worker counts (default 1,2)")
    args = p.parse_args(argv)
    import ray

    workers = [int(n) for n in args.workers.split(",")]
    rows: list[tuple[str, str, float]] = []
    reference: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folders = iter(Path(tmp) / f"run{k}" for k in range(1000))
        outputs: dict[str, Path] = {}
        for name, (main_fn, extra) in _commands().items():
            base = [str(args.depth_pass), "--frames", args.frames, *extra]
            for run in ("first in the process", "again"):
                outputs[name] = next(folders)
                seconds = _timed(main_fn, [*base, "-o", str(outputs[name])])
                rows.append((name, f"single process, {run}", seconds))
            reference[name] = seconds
        for n in workers:
            start = time.perf_counter()
            ray.init(num_cpus=n, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
            print(f"ray.init(num_cpus={n}): {time.perf_counter() - start:.1f} s")
            try:
                for name, (main_fn, extra) in _commands().items():
                    base = [str(args.depth_pass), "--frames", args.frames, *extra, "--ray"]
                    for run in ("cold", "warm"):
                        out = next(folders)
                        seconds = _timed(main_fn, [*base, "-o", str(out)])
                        if tree_digest(out) != tree_digest(outputs[name]):
                            raise DepthshotError(f"{name} on Ray ({n} workers, {run}) differs from one process")
                        rows.append((name, f"Ray, {n} worker{'s' if n > 1 else ''}, {run}", seconds))
            finally:
                ray.shutdown()
    print(f"\n{args.depth_pass}, frames {args.frames}; every Ray output byte-identical to the single process\n")
    print("| command | run | wall | vs single process (again) |")
    print("| --- | --- | --- | --- |")
    for name, run, seconds in rows:
        print(f"| {name} | {run} | {seconds:.2f} s | {reference[name] / seconds:.2f} |")
    return 0
