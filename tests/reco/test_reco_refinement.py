"""The scan's refinement logic, on a synthetic likelihood (no physics): an in-process Dask
client runs a stand-in for ``fit_batch`` whose llh is a known bowl around a chosen direction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import healpy as hp
import numpy as np
import pytest

import reco.skyfits
from reco.batchfit import BatchResult, BatchSpec
from reco.coords import angular_distance
from reco.detector import Detector
from reco.likelihood import PreparedEvent
from reco.scan import run_scan
from reco.scan_config import ScanConfig
from reco.simulate import SimulatedEvent

TARGET_RA, TARGET_DEC = np.radians(40.0), np.radians(-30.0)
NSIDE8_FAILED = set(
    hp.get_all_neighbours(8, 0.5 * np.pi - TARGET_DEC, TARGET_RA)[:2].tolist()
)  # two pixels beside the target's nside-8 pixel fail


def _bowl(spec_nside: int, pixel: np.ndarray) -> np.ndarray:
    theta, phi = hp.pix2ang(spec_nside, pixel)
    ang = np.degrees(angular_distance(phi, 0.5 * np.pi - theta, TARGET_RA, TARGET_DEC))
    llh = 100.0 + 2.0 * ang**2
    if spec_nside == 8:
        llh[np.isin(pixel, list(NSIDE8_FAILED))] = np.nan
    return np.asarray(llh)


def fake_fit_batch(prep: PreparedEvent, spec: BatchSpec) -> BatchResult:
    """A stand-in for fit_batch: the bowl's value at each pixel, nothing fitted."""
    n = len(spec.pixel)
    llh = _bowl(spec.nside, spec.pixel)
    return BatchResult(
        spec.nside, spec.pixel, llh, np.zeros((n, 3)), np.full(n, 1e4), np.ones(n), n
    )


@pytest.fixture()
def inprocess_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A one-worker, two-thread cluster in this process, running fake_fit_batch."""
    from distributed import Client, LocalCluster

    # distributed has no annotations: typed here as callables returning Any.
    new_cluster: Callable[..., Any] = LocalCluster
    new_client: Callable[..., Any] = Client

    # SkyFits submits the fit_batch of its own module: patch it there.
    monkeypatch.setattr(reco.skyfits, "fit_batch", fake_fit_batch)
    cluster = new_cluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    )
    client = new_client(cluster)
    yield client
    client.close()
    cluster.close()


def test_refinement_follows_the_minimum_and_skips_failed_pixels(
    small_track: SimulatedEvent, detector: Detector, inprocess_client: Any
) -> None:
    """On the bowl, the refinement ends at the minimum's nside-512 pixel, covers the
    disc around it, never refines a failed pixel, and gives the analytic 90 % area."""
    config = ScanConfig(nsides=((8, 0), (64, 4), (512, 4)), polish_rounds=0)
    res = run_scan(small_track.event, detector, config, client=inprocess_client)
    lv8, lv64, lv512 = res.levels
    assert len(lv8.pixel) == 768 and np.isnan(lv8.llh).sum() == len(NSIDE8_FAILED)
    # No child of a failed pixel was fitted at any finer level.
    for lv in (lv64, lv512):
        theta, phi = hp.pix2ang(lv.nside, lv.pixel)
        parents = hp.ang2pix(8, theta, phi)
        assert not set(parents.tolist()) & NSIDE8_FAILED
    # The best fit is the nside-512 pixel of the bowl's minimum (or a neighbour of it).
    target = hp.ang2pix(512, 0.5 * np.pi - TARGET_DEC, TARGET_RA)
    assert res.best.nside == 512
    assert res.best.pixel == target or res.best.pixel in hp.get_all_neighbours(512, target)
    # The finest level covers the disc of extension × (nside-64 pixel size) around the best.
    radius = config.extension * np.sqrt(4 * np.pi / hp.nside2npix(64))
    disc = hp.query_disc(512, hp.pix2vec(512, res.best.pixel), 0.9 * radius)
    assert set(disc.tolist()) <= set(lv512.pixel.tolist())
    # Values are exactly the bowl's, so the Wilks 90 % region is the cap 2·2·θ² ≤ 4.61.
    w90 = next(r for r in res.regions if r.name == "wilks-90")
    expected = np.pi * (4.61 / 4.0)  # deg²: θ² ≤ 4.61 / 4
    assert w90.area_deg2 == pytest.approx(expected, rel=0.08)
