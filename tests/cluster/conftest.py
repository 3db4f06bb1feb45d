import pytest


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray instance for the cluster tests (2 CPUs, no dashboard); ``core.cluster.connect`` reuses it."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
