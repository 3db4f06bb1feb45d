"""``python -m core.bench soak [--kills 100]``: kill -9 the depth, stereo and point-cloud commands at random
instants, rerun each, and count the reruns whose output equals an uninterrupted run's, byte for byte.

Each command runs on a tiny synthetic clip (VDA-S with the fixtures' synthetic weights, unless ``--weights``),
first once uninterrupted as a user runs it (``python -m``: the reference output), then once more forked from a
process that has already imported the libraries (``core.bench._forkrun``; it must give the same bytes, and its
duration ``T`` is the command's work without the imports; ``S`` is when its output appeared), then ``--kills``
times: fork, wait until the run's output exists (it has passed validation and claimed its output: the start-up's
length varies most with the machine's load), ``SIGKILL`` after a uniformly random delay in ``[0, T - S)`` (so kills
land during model loading, decoding, inference, frame writes, renames, segment encodes and the final join alike,
not in the seconds of ``import torch``), run the same command
again to the end, and compare every file of the output (hidden files included: nothing of the interrupted run
may be left). What the killed run left (a temporary file being written, and which) is recorded per kill: the
distribution of the kill instants over the run's stages. The tests run the same function with a few kills.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.atomic import is_partial
from core.bench._forkrun import ForkRunner

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


@dataclass
class SoakResult:
    """What the kills of one command gave: ``identical`` of ``kills`` reruns matched the reference;
    ``landed`` kills hit a running process (the others came after it had finished); ``failures`` describe
    the reruns that failed or differed; ``stages`` counts what the killed runs left (see ``kill_stage``);
    ``fractions`` are the kill delays as fractions of ``work_s - start_s``: the forked uninterrupted run's duration
    after its output appeared."""

    command: str
    kills: int = 0
    landed: int = 0
    identical: int = 0
    reference_s: float = 0.0
    work_s: float = 0.0
    start_s: float = 0.0  # when the forked run's output appeared (s after its start)
    rerun_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    stages: Counter = field(default_factory=Counter)
    fractions: list[float] = field(default_factory=list)


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root`` (hidden ones included)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def kill_stage(out: Path, expected: dict[str, str]) -> str:
    """What a killed run left in ``out``: "nothing yet"; "finished" (the reference's files); "writing P" for
    each temporary file of an atomic write (P: its path with digits as N and the writer's PID dropped: the kill
    came mid-write or between a write and its rename); else "between writes"."""
    got = tree_digest(out) if out.exists() else {}
    partial = sorted({re.sub(r"\d+", "N", re.sub(r"\.partial-\d+", ".partial", rel))
                      for rel in got if any(is_partial(part) for part in Path(rel).parts)})
    if partial:
        return "writing " + ", ".join(partial)
    if not got:
        return "nothing yet"
    return "finished" if got == expected else "between writes"


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def _last_line(stderr: str) -> str:
    return (stderr.strip().splitlines() or [""])[-1]


def soak_command(
    name: str, argv_for: Callable[[Path], list[str]], workdir: Path, kills: int, rng: random.Random,
    runner: ForkRunner, timeout: float = 600,
) -> SoakResult:
    """Kill ``python -m ARGV`` (``argv_for(out_folder)``) ``kills`` times at random instants, rerun each and
    compare with an uninterrupted run into ``workdir/ref``. Output folders are siblings (same relative paths).
    The killed runs and the reruns are forked by ``runner``."""
    result = SoakResult(name)
    ref = workdir / "ref"
    ref.mkdir(parents=True)
    t0 = time.monotonic()
    done = _run(argv_for(ref), timeout)
    result.reference_s = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{name}: the uninterrupted run failed: {done.stderr[-2000:]}")
    expected = tree_digest(ref)
    forked = workdir / "forked"
    forked.mkdir()
    t0 = time.monotonic()
    module, *args = argv_for(forked)
    pid = runner.start(module, args)
    result.start_s = _until_output(forked, time.monotonic() + timeout) - t0
    done = runner.wait(pid)
    result.work_s = time.monotonic() - t0
    if done.returncode != 0 or tree_digest(forked) != expected:
        raise RuntimeError(f"{name}: a forked uninterrupted run differs from the fresh one: {done.stderr[-2000:]}")
    shutil.rmtree(forked)
    rerun_s = 0.0
    for k in range(kills):
        out = workdir / f"kill{k}"
        out.mkdir()
        fraction = rng.random()
        module, *args = argv_for(out)
        pid = runner.start(module, args)
        # from the moment the run's output exists (start-up and validation vary most with the machine's load)
        _until_output(out, time.monotonic() + timeout)
        time.sleep(fraction * (result.work_s - result.start_s))
        os.kill(pid, signal.SIGKILL)  # a child that already ended is a zombie until waited for: no effect
        killed = runner.wait(pid)
        result.kills += 1
        if killed.returncode == -signal.SIGKILL:
            result.landed += 1
            result.fractions.append(fraction)
            result.stages[kill_stage(out, expected)] += 1
        else:
            result.stages["after the end"] += 1
        t0 = time.monotonic()
        again = runner.run(module, args)
        rerun_s += time.monotonic() - t0
        when = f"kill {fraction * (result.work_s - result.start_s):.2f}s after the output appeared ({fraction:.0%})"
        if again.returncode != 0:
            result.failures.append(f"{when}: rerun exit {again.returncode}: {_last_line(again.stderr)}")
        else:
            got = tree_digest(out)
            if got == expected:
                result.identical += 1
            else:
                differ = sorted(p for p in set(got) | set(expected) if got.get(p) != expected.get(p))
                result.failures.append(f"{when}: rerun differs in {differ[:5]}")
                shutil.copytree(out, workdir / f"failed{k}")  # kept for a look (the soak's folder is temporary)
        shutil.rmtree(out, ignore_errors=True)
    result.rerun_s = rerun_s / max(kills, 1)
    return result


def _until_output(folder: Path, deadline: float) -> float:
    """Wait until ``folder`` holds anything (the run has claimed its output), at most until ``deadline``
    (monotonic s); returns the instant (monotonic s)."""
    while not any(folder.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.005)
    return time.monotonic()


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
         workdir: Path | None = None, keep: Path | None = None) -> list[SoakResult]:
    """Run the soak for ``commands``; returns one result per command. ``keep``: work in this folder (kept,
    with the outputs of failed reruns) instead of a temporary one."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        folder = Path(keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        inputs = make_inputs(folder, weights)
        rng = random.Random(seed)
        runner = ForkRunner(env=_env(), cwd=REPO)
        try:
            results = []
            for name in commands:
                results.append(soak_command(name, command_argv(name, inputs), folder / name, kills, rng, runner))
                report(results[-1])
            return results
        finally:
            runner.close()


def report(r: SoakResult) -> None:
    """Print one command's figures: identical reruns, timings, the kill instants' stages and spread."""
    print(f"{r.command}: {r.identical}/{r.kills} reruns identical to the uninterrupted run ({r.landed} kills "
          f"landed mid-run; uninterrupted run {r.reference_s:.1f}s fresh, {r.work_s:.1f}s forked, its output after "
          f"{r.start_s:.1f}s; "
          f"rerun {r.rerun_s:.1f}s on average)", flush=True)
    deciles = Counter(min(int(f * 10), 9) for f in r.fractions)
    print("  kill instants by tenth of the run: " + " ".join(str(deciles[d]) for d in range(10)))
    for stage, n in sorted(r.stages.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4d}  {stage}")
    for f in r.failures:
        print(f"  FAILED {f}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=100, help="kills per command (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the kill instants")
    p.add_argument("--commands", nargs="+", choices=COMMANDS, default=list(COMMANDS))
    p.add_argument("--weights", type=Path, help="VDA-S checkpoint (default: the fixtures' synthetic weights)")
    p.add_argument("--keep", type=Path, help="work in this folder and keep it (outputs of failed reruns)")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    results = soak(args.kills, args.seed, args.commands, args.weights, keep=args.keep)
    print(f"soak: {time.monotonic() - t0:.0f}s in all, seed {args.seed}")
    return 1 if any(r.failures for r in results) else 0
