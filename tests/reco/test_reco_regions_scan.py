"""Regions on an analytic map, and the Dask scan on a real 2-worker LocalCluster."""

from __future__ import annotations

import json
import threading
from typing import Any

import healpy as hp
import numpy as np
import pytest

from reco.coords import angular_distance
from reco.detector import Detector
from reco.regions import WILKS_THRESHOLDS, compute_regions, moc_area_deg2
from reco.result import BestFit, LevelResult, ScanResult, ScanStats
from reco.scan import run_scan
from reco.scan_config import ScanCancelled, ScanConfig, ScanProgress
from reco.simulate import SimulatedEvent

RA0, DEC0 = np.radians(150.0), np.radians(20.0)
SIGMA_DEG = 0.8


def _analytic_result() -> ScanResult:
    """A scan-shaped result whose llh is ½(angle/σ)², an isotropic Gaussian of σ = 0.8°:
    nside 8 everywhere, 64 within 10°, 512 within 4°."""
    levels = []
    for nside, radius in ((8, None), (64, 10.0), (512, 4.0)):
        if radius is None:
            pix = np.arange(hp.nside2npix(nside))
        else:
            vec = hp.ang2vec(0.5 * np.pi - DEC0, RA0)
            pix = np.sort(hp.query_disc(nside, vec, np.radians(radius)))
        theta, phi = hp.pix2ang(nside, pix)
        ang = np.degrees(angular_distance(phi, 0.5 * np.pi - theta, RA0, DEC0))
        llh = 0.5 * (ang / SIGMA_DEG) ** 2
        z = np.zeros(len(pix))
        levels.append(LevelResult(nside, pix, llh, z, z, z, z, z))
    i = int(np.argmin(levels[-1].llh))
    best_pix, best_llh = int(levels[-1].pixel[i]), float(levels[-1].llh[i])
    t, p = hp.pix2ang(512, best_pix)
    best = BestFit(512, best_pix, p, 0.5 * np.pi - t, 0.0, 0.0, best_llh, (0, 0, 0), 0.0, 1.0)
    return ScanResult(1, 2, 60000.0, levels, best, {}, ScanStats(), {})


def test_regions_of_a_gaussian_map_match_the_analytic_areas() -> None:
    """The regions of an analytic Gaussian map (2ΔLLH = (angle/σ)²) have the areas of their
    thresholds, and their MOCs, contours and extents agree."""
    result = _analytic_result()
    regions = {
        r.name: r
        for r in compute_regions(result, calibration={"thresholds": {"0.5": 3.0, "0.9": 9.0}})
    }
    for name, thr in (("wilks-50", 1.39), ("wilks-90", 4.61), ("calibrated-90", 9.0)):
        reg = regions[name]
        assert reg.threshold == thr
        r_deg = SIGMA_DEG * np.sqrt(thr)  # 2ΔLLH = (angle/σ)² ≤ thr
        assert reg.area_deg2 == pytest.approx(np.pi * r_deg**2, rel=0.05)
        assert reg.radius_deg == pytest.approx(r_deg, rel=0.03)
        assert reg.dec_plus == pytest.approx(r_deg, abs=0.12)
        assert reg.dec_minus == pytest.approx(r_deg, abs=0.12)
        assert reg.ra_plus * np.cos(DEC0) == pytest.approx(r_deg, abs=0.12)
        # MOC area = region area, exactly (same pixels).
        assert moc_area_deg2(reg.moc) == pytest.approx(reg.area_deg2, rel=1e-9)
        # The contour is one closed ring at the right radius.
        assert len(reg.contour) == 1
        c = np.radians(reg.contour[0])
        dist = np.degrees(angular_distance(c[:, 0], c[:, 1], RA0, DEC0))
        assert np.abs(dist - r_deg).max() < 0.12
        assert reg.contains(RA0, DEC0)
        assert not reg.contains(RA0, DEC0 + np.radians(r_deg + 0.3))


def test_multiorder_cells_tile_the_sphere_and_match_the_flat_map() -> None:
    """The multi-order cells cover the sphere once and carry the flat map's values."""
    result = _analytic_result()
    uniq, values = result.multiorder()
    order = np.log2(uniq // 4).astype(int) // 2
    area = np.sum(4 * np.pi / (12 * 4.0**order))
    assert area == pytest.approx(4 * np.pi, rel=1e-12)
    flat = result.delta_llh_map()
    assert np.nanmin(flat) == 0.0
    assert np.isfinite(flat).all()
    # Cells at the finest order carry the same values as the flat map.
    fine = order == 9
    nest = uniq[fine] - 4 * 512**2
    assert np.allclose(flat[hp.nest2ring(512, nest)], values[fine])


SMALL = ScanConfig(nsides=((8, 0), (32, 6), (128, 8)), batch_size=64)


def test_scan_on_a_two_worker_local_cluster(
    small_track: SimulatedEvent, detector: Detector, dask_client: Any
) -> None:
    """A small scan on two worker processes lands within 1° of the truth, reports
    monotone progress ending at 1, and gives regions, MOCs and strict JSON."""
    reports: list[ScanProgress] = []
    res = run_scan(small_track.event, detector, SMALL, client=dask_client, progress=reports.append)
    tr = small_track.truth
    err = np.degrees(angular_distance(res.best.ra, res.best.dec, tr.ra, tr.dec))
    assert err < 1.0
    # The best fit is the minimum over every level, and never NaN.
    assert res.best.llh == min(np.nanmin(lv.llh) for lv in res.levels)
    assert [lv.nside for lv in res.levels] == [8, 32, 128]
    assert len(res.levels[0].pixel) == 768
    # Progress: monotone counts ending at the number of fits; a sane ETA.
    done = [r.pixels_done for r in reports]
    assert done == sorted(done) and done[-1] == res.stats.pixel_fits
    assert reports[-1].fraction == pytest.approx(1.0)
    assert all(0.0 <= r.fraction <= 1.0 for r in reports)
    # Regions around the best fit; MOC area = region area.
    names = {r.name for r in res.regions}
    assert {"wilks-50", "wilks-90"} <= names
    for reg in res.regions:
        assert reg.contains(res.best.ra, res.best.dec)
        assert moc_area_deg2(reg.moc) == pytest.approx(reg.area_deg2, rel=1e-9)
    w50 = next(r for r in res.regions if r.name == "wilks-50")
    w90 = next(r for r in res.regions if r.name == "wilks-90")
    assert w90.area_deg2 >= w50.area_deg2 > 0
    # The result serialises to strict JSON (no NaN tokens).
    text = json.dumps(res.to_json(), allow_nan=False)
    assert json.loads(text)["best_fit"]["llh"] == res.best.llh


def test_scan_can_be_cancelled(
    small_track: SimulatedEvent, detector: Detector, dask_client: Any
) -> None:
    """Setting the cancel flag during a scan raises ScanCancelled."""
    stop = threading.Event()

    def progress(p: ScanProgress) -> None:
        if p.pixels_done > 0:
            stop.set()

    with pytest.raises(ScanCancelled):
        run_scan(
            small_track.event, detector, SMALL, client=dask_client, progress=progress, cancel=stop
        )


def test_duplicate_task_key_is_harmless(
    small_track: SimulatedEvent, detector: Detector, dask_client: Any
) -> None:
    """Submitting the same batch twice under one key runs one task with the same answer
    as a direct call."""
    from reco.batchfit import BatchSpec, fit_batch
    from reco.likelihood import frames, hexagon_offsets, prepare, transfer_seeds

    prep = prepare(small_track.event, detector)
    zen, azi = np.array([1.0, 2.0]), np.array([0.5, 4.0])
    seeds = transfer_seeds(
        prep,
        np.repeat(prep.centre[None], 2, 0),
        np.full(2, np.nan),
        frames(zen, azi),
        hexagon_offsets(3, 20.0),
    )
    spec = BatchSpec(8, np.array([1, 2]), zen, azi, seeds, 5)
    fut = dask_client.scatter(prep, broadcast=True, hash=False)
    a = dask_client.submit(fit_batch, fut, spec, key="dup-test")
    b = dask_client.submit(fit_batch, fut, spec, key="dup-test")
    assert a.key == b.key
    assert np.array_equal(a.result().llh, b.result().llh)
    assert np.array_equal(a.result().llh, fit_batch(prep, spec).llh)


def test_wilks_thresholds_are_chi2_two_dof_quantiles() -> None:
    """The Wilks thresholds are the χ² (2 degrees of freedom) quantiles."""
    from scipy.stats import chi2

    for c, thr in WILKS_THRESHOLDS.items():
        assert chi2.ppf(c, 2) == pytest.approx(thr, abs=0.01)


def test_recorded_calibration_has_provenance_and_is_wider_than_wilks() -> None:
    """The calibration shipped in reco/data comes from bench/systematics.py on ≥ 500 tracks
    of the perturbed simulation (not the likelihood's photon model): provenance, per-energy-
    proxy-bin thresholds that add up to the sample, each wider than Wilks (Wilks under-covers
    there) and the 90 % above the 50 %."""
    from reco.regions import calibrated_thresholds

    calib = calibrated_thresholds()
    assert calib is not None
    assert calib["systematics"] == "perturbed-ice v1"
    assert "bench.systematics" in calib["command"] and calib["date"]
    track = calib["track"]
    assert track["n_events"] >= 500
    assert sum(b["n_events"] for b in track["bins"]) == track["n_events"]
    for thresholds in [track["thresholds"], *(b["thresholds"] for b in track["bins"])]:
        for c in ("0.5", "0.9"):
            assert float(thresholds[c]) > WILKS_THRESHOLDS[float(c)]
        assert thresholds["0.9"] > thresholds["0.5"]
