"""The cascade regions' calibration: recorded with its provenance by bench/systematics.py on
showers of the perturbed-ice simulation, and used by a real cascade scan (thresholds of the
event's energy-proxy bin, regions naming the simulation, FITS header saying so)."""

from __future__ import annotations

import json
from pathlib import Path

import healpy as hp
import numpy as np
import pytest
from astropy.io import fits
from fastapi.testclient import TestClient

from nufair.app import create_app
from nufair.settings import Settings
from reco.cascade.scan import CASCADE_NSIDES, cascade_calibration
from reco.detector import Detector
from reco.event import Event
from reco.regions import WILKS_THRESHOLDS
from reco.scan import ScanConfig, run_scan
from reco.simulate_perturbed import perturb, simulate_perturbed_cascade
from reco.skymap import write_flat_fits

from ..ingest.scan_helpers import fast_settings, wait_for
from ..ingest.test_notice_formats import official_gcn_validator


def test_cascade_calibration_provenance() -> None:
    """≥ 200 perturbed-ice showers, per energy-proxy bin thresholds that add up to the sample,
    wider than Wilks, 90 % above 50 %, with their out-of-sample coverage and the scan's
    nsides they were measured with."""
    calib = cascade_calibration()
    assert calib is not None
    assert calib["systematics"] == "perturbed-ice v1"
    assert calib["method"] == "calibrated on simulation (perturbed-ice v1)"
    assert "bench.systematics" in calib["command"]
    # pooled over detector realisations, each named with the run that made its rows
    assert len(calib["realisations"]) >= 2
    assert all("--seed" in run for run in calib["realisations"].values())
    assert calib["date"] and "cascade scan" in calib["statistic"]
    assert "parity" in calib["split"]
    assert calib["scan"]["nsides"] == [list(p) for p in CASCADE_NSIDES]
    block = calib["cascade"]
    assert "track" not in calib
    assert block["n_events"] >= 200
    assert sum(b["n_events"] for b in block["bins"]) == block["n_events"]
    assert [b["energy_proxy_tev"] for b in block["bins"]] == [
        [None, 30.0],
        [30.0, 100.0],
        [100.0, None],
    ]
    for b in block["bins"]:
        thr = b["thresholds"]
        assert thr["0.9"] > thr["0.5"] > WILKS_THRESHOLDS[0.5]
        assert thr["0.9"] > WILKS_THRESHOLDS[0.9]
        assert set(b["out_of_sample_coverage"]) == {"0.5", "0.9"}


@pytest.fixture(scope="module")
def perturbed_shower(detector: Detector) -> Event:
    """A 60 TeV shower in perturbed ice (not one of the calibration's seeds)."""
    pd = perturb(detector, np.random.default_rng(77))
    return simulate_perturbed_cascade(
        np.random.default_rng(4242), pd, 60.0, vertex=(40.0, 20.0, -150.0)
    )


def test_cascade_scan_uses_the_calibration(
    detector: Detector, perturbed_shower: Event, tmp_path: Path
) -> None:
    """The scan's calibrated regions take the thresholds of the bin of its best-fit energy;
    their areas are the pixels of the scan's own 2ΔLLH map under them (counted here with
    healpy), they name the simulation, and the FITS header says systematics are included."""
    calib = cascade_calibration()
    assert calib is not None
    result = run_scan(perturbed_shower, detector, ScanConfig(hypothesis="cascade"))
    assert result.config["hypothesis"] == "cascade"
    energy = result.best.energy
    expect = next(
        b
        for b in calib["cascade"]["bins"]
        if (b["energy_proxy_tev"][0] is None or energy >= b["energy_proxy_tev"][0])
        and (b["energy_proxy_tev"][1] is None or energy < b["energy_proxy_tev"][1])
    )
    regions = {r.name: r for r in result.regions}
    fine = result.delta_llh_map()
    pix_area = hp.nside2pixarea(hp.npix2nside(len(fine)), degrees=True)
    for c in ("0.5", "0.9"):
        reg = regions[f"calibrated-{round(float(c) * 100)}"]
        assert reg.threshold == pytest.approx(expect["thresholds"][c])
        assert reg.systematics == "perturbed-ice v1"
        assert reg.area_deg2 == pytest.approx(np.sum(fine <= reg.threshold) * pix_area)
        assert reg.contains(result.best.ra, result.best.dec)
    assert regions["calibrated-90"].area_deg2 > regions["wilks-90"].area_deg2
    path = tmp_path / "cascade.fits"
    write_flat_fits(result, path, nside=64)
    with fits.open(path) as hdul:
        h = hdul[1].header
        assert h["SYSTINCL"] is True and h["REGMETH"] == "calibrated on perturbed-ice v1"
        assert h["THRESH90"] == pytest.approx(expect["thresholds"]["0.9"])


def test_half_sky_cascade_region_through_the_api(
    settings: Settings, admin_headers: dict[str, str], detector: Detector
) -> None:
    """A 150 TeV perturbed shower whose calibrated 90 % region is half the sky (typical: the
    median is 19 000 deg², bench/RESULTS.md): posted raw, it is scanned with the cascade
    hypothesis and its update notice is stored, schema-valid, with the region's radius and
    ``systematic_included``."""
    pd = perturb(detector, np.random.default_rng(19))
    event = simulate_perturbed_cascade(np.random.default_rng(24), pd, 150.0, event_id=24)
    expected = run_scan(event, detector, ScanConfig(hypothesis="cascade"))
    r90 = next(r for r in expected.regions if r.name == "calibrated-90")
    assert 10000.0 < r90.area_deg2 < 41253.0 * 0.75
    body = event.to_json()
    body.pop("truth", None)
    cfg = fast_settings(settings)
    gcn_dir = cfg.data_dir / "notices" / "gcn-json"
    with TestClient(create_app(cfg)) as client:
        r = client.post("/api/v1/events/raw", json=body, headers=admin_headers)
        assert r.status_code == 201, r.text
        (scan,) = client.get("/api/v1/scans", params={"run_id": body["run_id"]}).json()
        done = wait_for(
            lambda: (
                (s := client.get(f"/api/v1/scans/{scan['id']}").json())["state"]
                in ("done", "failed")
                and s
            ),
            timeout_s=180.0,
            what="scan done",
        )
        assert done["state"] == "done", done.get("error")
        update = wait_for(lambda: sorted(gcn_dir.glob("*_1.json")), what="update notice")
        gcn = json.loads(update[0].read_bytes())
    official_gcn_validator().validate(gcn)
    assert gcn["systematic_included"] is True
    assert gcn["ra_dec_error"] == pytest.approx(round(r90.radius_deg, 4), abs=1e-3)
