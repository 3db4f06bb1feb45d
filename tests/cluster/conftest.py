"""What the cluster tests share: one real local Ray instance for the whole package (starting one costs seconds)
and the job they run."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.depth import DepthJob

W, H = 96, 64
ENGINE_ARGS = ["--model", "vda-s", "--input-size", "70", "--device", "cpu"]


@pytest.fixture(scope="package")
def local_ray():
    """A local Ray instance with 2 CPUs, no dashboard, for every test of the package; ``connect`` reuses it."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def job(src: Path, out: Path, weights: Path) -> DepthJob:
    """The tests' depth job: VDA-S with the fixtures' synthetic weights at input 70 on the CPU."""
    return DepthJob(input=src, output=out, weights=weights, model="vda-s", input_size=70, device="cpu")
