"""Scale-out over every GPU of a machine or the nodes of a Ray cluster (``--ray [ADDRESS]``), same files as one process.

The engines and consumers know nothing of Ray: ``core.cluster.depth.RayShots`` is a ``core.depth.job.ShotExecutor``
whose shots run as Ray tasks calling the engine's own ``run_shot``, while ``core.depth.job.run_depth`` (checks,
resume, the one depth-pass writer, the manifest) runs on the driver as in the single-process job;
``core.cluster.stereo`` renders a stereo video's closed segments as Ray tasks and joins them on the driver;
``core.cluster.geometry`` writes point clouds and meshes (chunks of frames, or shots) as Ray tasks calling the
geometry commands' own writers. Ray is an optional extra (``pip install 'depthshot[ray]'``);
this module imports it only when ``connect`` is called.

Inputs and outputs must live on a filesystem every node mounts at the same path (``check_shared_paths``).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from core.errors import DepthshotError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'depthshot[ray]'"
MAX_RETRIES = 3  # Ray's retries of a task whose worker died
POLL_S = 0.5  # how often a driver looks at its running tasks (progress)

Unit = TypeVar("Unit")


@dataclass(frozen=True)
class RayOptions:
    """How to reach Ray and what each task takes.

    ``address``: None starts a local Ray instance on this machine (its GPUs, else its CPUs); else the address of a
    running cluster (``ray start --head`` prints it; ``auto`` finds the one on this node).
    ``gpus_per_task``: GPUs per depth task (may be fractional); None = 1 when the cluster has GPUs, else 0 (CPU tasks).
    ``cpus_per_task``: CPUs per task (Ray sets a CPU task's ``OMP_NUM_THREADS``, hence its torch threads, to it).
    ``split_shots``: split a shot longer than ``chunk_frames`` into chunks that overlap by ``chunk_overlap`` frames,
    computed in parallel and aligned to each other (``core.depth.chunks``: an approximation of the sequential
    result); off, every shot is one task and the pass is byte-identical to the single-process run.
    """

    address: str | None = None
    gpus_per_task: float | None = None
    cpus_per_task: float = 1.0
    split_shots: bool = True
    chunk_frames: int = 1000
    chunk_overlap: int = 16

    def task_gpus(self, ray: ModuleType) -> float:
        """GPUs each task asks for on the connected cluster."""
        if self.gpus_per_task is not None:
            return float(self.gpus_per_task)
        return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def task_resources(ray: ModuleType, options: RayOptions, cpu_only: bool = False) -> tuple[dict[str, float], float]:
    """The ``ray.remote`` resources of one task (``num_gpus``, ``num_cpus``) and how many such tasks the connected
    cluster runs at once; ``cpu_only``: a task that needs no GPU (geometry) whatever the cluster has."""
    gpus = 0.0 if cpu_only else options.task_gpus(ray)
    slots = ray.cluster_resources().get("GPU" if gpus else "CPU", 1) / (gpus or options.cpus_per_task)
    return {"num_gpus": gpus, "num_cpus": options.cpus_per_task}, slots


def fetch(ray: ModuleType, ref: Any, what: str) -> Any:
    """``ray.get(ref)``; a task's ``DepthshotError`` is raised as itself, any other failure of ``what`` (an error in
    the task, a worker or node that died more often than Ray retries) as one ``DepthshotError`` line (the remote
    traceback is logged at debug level, ``-v``)."""
    errors = ray.exceptions
    try:
        return ray.get(ref)
    except errors.RayTaskError as exc:
        if isinstance(exc.cause, DepthshotError):
            raise exc.cause from None
        log.debug("%s failed on Ray", what, exc_info=True)
        cause = exc.cause if exc.cause is not None else exc
        raise DepthshotError(f"{what} failed on a Ray worker: {type(cause).__name__}: "
                             f"{str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}") from None
    except errors.RayError as exc:
        log.debug("%s failed on Ray", what, exc_info=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DepthshotError(f"{what} failed on Ray: {type(exc).__name__}: {first}") from None


def run_tasks(ray: ModuleType, units: Sequence[Unit], submit: Callable[[Unit], Any], slots: float,
              on_ready: Callable[[Unit, Any], bool], on_poll: Callable[[Unit], None] | None = None) -> None:
    """One Ray task per unit, started in order with about 2 per task slot in flight. ``submit(unit)`` starts a
    unit's task and returns its ref (or streaming generator); ``on_ready(unit, ref)`` is called whenever the ref is
    ready (a generator: its next item is) and says whether the unit is finished; ``on_poll(unit)`` for each unit
    still running at every poll (``POLL_S``). What is still running when this returns or raises is cancelled."""
    todo = list(units)
    running: dict[Any, Unit] = {}
    try:
        while todo or running:
            while todo and len(running) < max(2, int(2 * slots)):
                unit = todo.pop(0)
                running[submit(unit)] = unit
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            for ref in ready:
                if on_ready(running[ref], ref):
                    del running[ref]
            if on_poll is not None:
                for unit in running.values():
                    on_poll(unit)
    finally:
        for ref in running:
            ray.cancel(ref)


def require_ray() -> ModuleType:
    """The ``ray`` module; ``DepthshotError`` with the install command when it is not installed."""
    try:
        import ray
    except ImportError:
        raise DepthshotError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def check_options(options: RayOptions) -> None:
    """``DepthshotError`` for task resources that cannot be scheduled (before Ray starts)."""
    if options.gpus_per_task is not None and not 0 <= options.gpus_per_task:
        raise DepthshotError(f"--ray-gpus-per-task must be >= 0, got {options.gpus_per_task:g}")
    if not options.cpus_per_task > 0:
        raise DepthshotError(f"--ray-cpus-per-task must be > 0, got {options.cpus_per_task:g}")
    if options.chunk_overlap < 2 or options.chunk_frames <= 2 * options.chunk_overlap:
        raise DepthshotError(f"--ray-chunk-frames must be more than twice the overlap of {options.chunk_overlap} "
                             f"frames, got {options.chunk_frames}")


def connect(options: RayOptions) -> ModuleType:
    """Ray, connected: an already initialised Ray is reused (a test's, a notebook's); otherwise a local instance
    is started (``address`` None) or the cluster at ``address`` joined. Returns the ``ray`` module."""
    ray = require_ray()
    check_options(options)
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=options.address, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = options.address or "a local instance"
        raise DepthshotError(f"--ray: cannot connect to {where} ({str(exc).splitlines()[0]}){_auth_hint(options)}") \
            from None
    log.info("ray: %s", ray.cluster_resources())
    return ray


def _auth_hint(options: RayOptions) -> str:
    """What to add to a failed connection to ``options.address``: Ray enables token authentication for a cluster
    started where a token exists (``~/.ray/auth_token``) but never for a driver given an explicit address."""
    token = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if options.address in (None, "auto") or "RAY_AUTH_MODE" in os.environ or not token.is_file():
        return ""
    return "; if the cluster uses token authentication, set RAY_AUTH_MODE=token (the token is read from " \
           f"{token} or $RAY_AUTH_TOKEN)"


def _node_check(paths: Sequence[str], writable: Sequence[str]) -> list[str]:
    """On one node: the paths it cannot read and the folders it cannot write (runs as a Ray task)."""
    host = socket.gethostname()
    bad = [f"{host} cannot read {p}" for p in paths if not os.access(p, os.R_OK)]
    for folder in writable:
        f = Path(folder)
        while not f.exists() and f != f.parent:
            f = f.parent
        if not os.access(f, os.W_OK):
            bad.append(f"{host} cannot write {folder}")
    return bad


def check_shared_paths(ray: ModuleType, inputs: Sequence[Path], outputs: Sequence[Path],
                       timeout_s: float = 60.0) -> None:
    """Check that every alive node of the cluster reads ``inputs`` and can write where ``outputs`` go (a shared
    filesystem at the same path on every node); ``DepthshotError`` naming the node and the path otherwise, or when
    a node does not answer within ``timeout_s``."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    check = ray.remote(num_cpus=0, max_retries=0)(_node_check)
    paths = [str(Path(p).resolve()) for p in inputs]
    folders = [str(Path(p).resolve().parent) for p in outputs]
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = {n["NodeManagerAddress"]: check.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(paths, folders)
        for n in nodes}
    ready, late = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)
    if late:
        who = [addr for addr, ref in refs.items() if ref in late]
        raise DepthshotError(f"--ray: node {', '.join(who)} did not answer the filesystem check within "
                             f"{timeout_s:g} s")
    problems = [p for ref in ready for p in ray.get(ref)]
    if problems:
        raise DepthshotError(f"--ray: {problems[0]}: inputs and outputs must be on a filesystem every node mounts "
                             "at the same path")
