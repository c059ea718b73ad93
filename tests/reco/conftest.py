"""Shared fixtures of the reco tests: the detector, a few seeded events, a 2-worker cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reco.detector import Detector, load_ic86
from reco.simulate import SimulatedEvent, simulate_event

DATA = Path(__file__).resolve().parent.parent / "data" / "reco"


@pytest.fixture(scope="session")
def detector() -> Detector:
    """The IceCube-86 geometry."""
    return load_ic86()


@pytest.fixture(scope="session")
def track(detector: Detector) -> SimulatedEvent:
    """A 100 TeV through-going track (about 1000 pulses)."""
    return simulate_event(np.random.default_rng(2024), detector, "throughgoing", 100.0)


@pytest.fixture(scope="session")
def small_track(detector: Detector) -> SimulatedEvent:
    """A 20 TeV through-going track (a few hundred pulses): cheap to scan."""
    return simulate_event(np.random.default_rng(7), detector, "throughgoing", 20.0)


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Any]:
    """A real LocalCluster with two single-threaded worker processes."""
    from distributed import Client, LocalCluster

    # distributed has no annotations: typed here as callables returning Any.
    new_cluster: Callable[..., Any] = LocalCluster
    new_client: Callable[..., Any] = Client

    cluster = new_cluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = new_client(cluster)
    yield client
    client.close()
    cluster.close()
