"""``python -m core.bench soak [--kills 100]``: kill -9 the depth, stereo and point-cloud commands at random
instants, rerun each, and count the reruns whose output equals an uninterrupted run's, byte for byte.

Each command runs on a tiny synthetic clip (VDA-S with the fixtures' synthetic weights, unless ``--weights``),
first once uninterrupted (the reference, which also gives its duration ``T``), then ``--kills`` times: start,
``SIGKILL`` after a uniformly random delay in ``[0, T)`` (so kills land during start-up, decoding, inference,
frame writes, renames, segment encodes and the final join alike), run the same command again to the end, and
compare every file of the output (hidden files included: nothing of the interrupted run may be left).
The tests run the same function with a few kills per command.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


@dataclass
class SoakResult:
    """What the kills of one command gave: ``identical`` of ``kills`` reruns matched the reference;
    ``landed`` kills hit a running process (the others came after it had finished); ``failures`` describe
    the reruns that failed or differed."""

    command: str
    kills: int = 0
    landed: int = 0
    identical: int = 0
    reference_s: float = 0.0
    failures: list[str] = field(default_factory=list)


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root`` (hidden ones included)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def soak_command(
    name: str, argv_for: "callable[[Path], list[str]]", workdir: Path, kills: int, rng: random.Random,
    timeout: float = 600,
) -> SoakResult:
    """Kill ``python -m ARGV`` (``argv_for(out_folder)``) ``kills`` times at random instants, rerun each and
    compare with an uninterrupted run into ``workdir/ref``. Output folders are siblings (same relative paths)."""
    result = SoakResult(name)
    ref = workdir / "ref"
    ref.mkdir(parents=True)
    t0 = time.monotonic()
    done = _run(argv_for(ref), timeout)
    result.reference_s = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{name}: the uninterrupted run failed: {done.stderr[-2000:]}")
    expected = tree_digest(ref)
    for k in range(kills):
        out = workdir / f"kill{k}"
        out.mkdir()
        delay = rng.uniform(0.0, result.reference_s)
        proc = subprocess.Popen([sys.executable, "-m", *argv_for(out)], cwd=REPO, env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            result.landed += 1
        result.kills += 1
        again = _run(argv_for(out), timeout)
        if again.returncode != 0:
            last = (again.stderr.strip().splitlines() or [""])[-1]
            result.failures.append(f"kill at {delay:.2f}s: rerun exit {again.returncode}: {last}")
        else:
            got = tree_digest(out)
            if got == expected:
                result.identical += 1
            else:
                differ = sorted(p for p in set(got) | set(expected) if got.get(p) != expected.get(p))
                result.failures.append(f"kill at {delay:.2f}s: rerun differs in {differ[:5]}")
        shutil.rmtree(out, ignore_errors=True)
    return result


def make_inputs(folder: Path, weights: Path | None) -> dict[str, Path]:
    """A 64x48, 36-frame clip with a hard cut (two shots), its depth pass, and VDA-S weights."""
    import numpy as np

    from core.bench._fixtures import synthetic_weights
    from core.depth.depth_pass import DepthPassWriter, PassInfo
    from core.video import VideoWriter

    clip = folder / "clip.mp4"
    rng = np.random.default_rng(5)
    with VideoWriter(clip, 64, 48, 24) as w:
        for shot in range(2):
            base = rng.uniform(0, 255, (6, 8, 3)).astype(np.float32)
            for i in range(18):
                img = np.kron(base, np.ones((8, 8, 1), np.float32))[:48, :64]
                w.write(np.clip(np.roll(img, i, axis=1), 0, 255).astype(np.uint8))
    info = PassInfo(source=str(clip), fps=24.0, width=64, height=48, kind="relative_inverse_depth",
                    model={"id": "soak"})
    writer = DepthPassWriter(folder / "pass", info)
    writer.begin_shot(0)
    yy, xx = np.mgrid[0:48, 0:64].astype(np.float32)
    for i in range(36):
        writer.write(i, 1.0 + (xx + i) / 64 + yy / 48, pts=i / 24)
    writer.end_shot()
    writer.close()
    return {"clip": clip, "pass": folder / "pass", "weights": weights or synthetic_weights(folder)}


COMMANDS = ("depth", "stereo", "pointcloud")


def command_argv(name: str, inputs: dict[str, Path]):
    """``out folder -> python -m argv`` of soak command ``name``."""
    if name == "depth":
        return lambda out: ["core.depth", str(inputs["clip"]), "-o", str(out / "p"), "--model", "vda-s",
                            "--weights", str(inputs["weights"]), "--input-size", "70", "--device", "cpu"]
    if name == "stereo":
        return lambda out: ["core.stereo", str(inputs["clip"]), "--depth", str(inputs["pass"]), "-o",
                            str(out / "s.mp4"), "--segment-seconds", "0.25", "--device", "cpu"]
    if name == "pointcloud":
        return lambda out: ["core.pointcloud", str(inputs["pass"]), "-o", str(out / "pc")]
    raise ValueError(name)


def soak(kills: int, seed: int, commands: Sequence[str] = COMMANDS, weights: Path | None = None,
         workdir: Path | None = None) -> list[SoakResult]:
    """Run the soak for ``commands``; returns one result per command."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        folder = Path(tmp)
        inputs = make_inputs(folder, weights)
        rng = random.Random(seed)
        return [soak_command(name, command_argv(name, inputs), folder / name, kills, rng) for name in commands]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=100, help="kills per command (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the kill instants")
    p.add_argument("--commands", nargs="+", choices=COMMANDS, default=list(COMMANDS))
    p.add_argument("--weights", type=Path, help="VDA-S checkpoint (default: the fixtures' synthetic weights)")
    args = p.parse_args(argv)
    failed = 0
    for r in soak(args.kills, args.seed, args.commands, args.weights):
        print(f"{r.command}: {r.identical}/{r.kills} reruns identical to the uninterrupted run "
              f"({r.landed} kills landed mid-run; uninterrupted run {r.reference_s:.1f}s)")
        for f in r.failures:
            print(f"  {f}")
        failed += len(r.failures)
    return 1 if failed else 0
