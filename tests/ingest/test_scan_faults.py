"""A Dask worker process killed in the middle of a scan: the scan still finishes, with the
same best fit as an undisturbed run (reco retries lost tasks; the event is scattered to
every worker, so the surviving copy feeds the restarted one)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from reco.scan import ScanConfig, ScanProgress, run_scan
from tests.ingest.events import detector, simulated

CONFIG = ScanConfig(nsides=((4, 0), (8, 4)), n_seeds=3, n_iter=6, batch_size=16)


@pytest.fixture
def cluster() -> Iterator[Any]:
    """A real LocalCluster with two single-threaded worker processes (nannies restart a
    killed one)."""
    from distributed import Client, LocalCluster

    # distributed has no type annotations
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,  # type: ignore[no-untyped-call]
                      dashboard_address="127.0.0.1:0") as lc, \
            Client(lc) as client:  # type: ignore[no-untyped-call]
        yield client


def test_worker_killed_mid_scan_same_best_fit(cluster: Any) -> None:
    event = simulated(energy_tev=100.0).event
    calm = run_scan(event, detector(), CONFIG, client=cluster)

    pids: dict[str, int] = cluster.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed: list[ScanProgress] = []

    def kill_once(p: ScanProgress) -> None:
        if not killed and p.pixels_done > 0:
            os.kill(victim, signal.SIGKILL)
            killed.append(p)

    hit = run_scan(event, detector(), CONFIG, client=cluster, progress=kill_once)
    assert killed and killed[0].fraction < 0.5  # it died early, with most work ahead
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)  # really gone
    assert (hit.best.nside, hit.best.pixel) == (calm.best.nside, calm.best.pixel)
    assert hit.best.llh == calm.best.llh
    assert hit.stats.pixel_fits == calm.stats.pixel_fits
