"""Regions with systematics: per-energy-bin thresholds chosen by the energy proxy, the method
carried into the FITS header and the notices (GCN JSON ``systematic_included``, VOEvent)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import voeventparse as vp
from astropy.io import fits

from catalog.notices import render
from catalog.notices.gcn_json import build
from catalog.notices.model import region_systematics
from reco.regions import compute_regions, thresholds_for
from reco.skymap import write_flat_fits

from ..ingest.test_notice_formats import notice
from .test_reco_regions_scan import SIGMA_DEG, _analytic_result

BINNED = {
    "systematics": "perturbed-ice v1",
    "track": {
        "thresholds": {"0.5": 10.0, "0.9": 40.0},
        "bins": [
            {"energy_proxy_tev": [None, 30.0], "thresholds": {"0.5": 12.0, "0.9": 50.0}},
            {"energy_proxy_tev": [30.0, 300.0], "thresholds": {"0.5": 6.0, "0.9": 25.0}},
            {"energy_proxy_tev": [300.0, None], "thresholds": {"0.5": 3.0, "0.9": 16.0}},
        ],
    },
}


@pytest.mark.parametrize(
    ("energy", "t50", "t90", "edges"),
    [(5.0, 12.0, 50.0, (None, 30.0)), (30.0, 6.0, 25.0, (30.0, 300.0)),
     (299.9, 6.0, 25.0, (30.0, 300.0)), (1e4, 3.0, 16.0, (300.0, None)),
     (float("nan"), 10.0, 40.0, None)],
)
def test_thresholds_follow_the_energy_proxy_bin(
    energy: float, t50: float, t90: float, edges: tuple[float | None, float | None] | None
) -> None:
    """Lower edges are inclusive, upper exclusive, the outer bins open; a NaN proxy takes the
    whole sample's thresholds."""
    got = thresholds_for(BINNED, energy)
    assert got is not None
    assert got.by_containment == {0.5: t50, 0.9: t90}
    assert got.energy_bin == edges and got.systematics == "perturbed-ice v1"


def test_flat_and_missing_calibrations() -> None:
    """A flat calibration applies to every event (no systematics unless named); a per-
    hypothesis one has nothing for a hypothesis it lacks."""
    flat = thresholds_for({"thresholds": {"0.5": 2.0, "0.9": 9.0}}, 100.0)
    assert flat is not None and flat.by_containment == {0.5: 2.0, 0.9: 9.0}
    assert flat.systematics is None and flat.energy_bin is None
    assert thresholds_for(BINNED, 100.0, hypothesis="cascade") is None


def test_regions_use_the_bin_of_the_best_fit_energy(tmp_path: Path) -> None:
    """On the analytic Gaussian map (2ΔLLH = (angle/σ)²) the calibrated 90 % region of a
    500 TeV event has the area of its bin's threshold 16, a 10 TeV one that of 50; the
    region names its systematics, and the FITS header says how it was made."""
    result = _analytic_result()
    for energy, t90 in ((500.0, 16.0), (10.0, 50.0)):
        result.best = replace(result.best, energy=energy)
        regions = {r.name: r for r in compute_regions(result, calibration=BINNED)}
        reg = regions["calibrated-90"]
        assert reg.threshold == t90 and reg.systematics == "perturbed-ice v1"
        r_deg = SIGMA_DEG * np.sqrt(t90)
        assert reg.area_deg2 == pytest.approx(np.pi * r_deg**2, rel=0.05)
        assert regions["wilks-90"].systematics is None
        assert reg.to_json()["systematics"] == "perturbed-ice v1"
    result.regions = list(regions.values())
    path = tmp_path / "map.fits"
    write_flat_fits(result, path)
    with fits.open(path) as hdul:
        h = hdul[1].header
        assert h["SYSTINCL"] is True and h["REGMETH"] == "calibrated on perturbed-ice v1"
        assert h["THRESH90"] == 50.0
    result.regions = compute_regions(result, calibration={"thresholds": {"0.5": 3, "0.9": 9}})
    write_flat_fits(result, path)
    with fits.open(path) as hdul:
        assert hdul[1].header["SYSTINCL"] is False


def test_notices_say_whether_systematics_are_included() -> None:
    """GCN JSON ``systematic_included`` follows the region's calibration (schema-valid either
    way), ``additional_info`` names the simulation, the VOEvent error Params say it too."""
    plain = build(notice())
    assert plain["systematic_included"] is False
    assert "systematic" not in plain.get("additional_info", "")
    with_sys = notice(systematics="perturbed-ice v1")
    doc = build(with_sys)
    assert doc["systematic_included"] is True
    assert "perturbed-ice v1" in doc["additional_info"]
    assert json.loads(render("gcn-json", with_sys).payload)["systematic_included"] is True
    described = _error_description(render("voevent", with_sys).payload)
    assert "statistical and systematic" in described and "perturbed-ice v1" in described
    assert "statistical only" in _error_description(render("voevent", notice()).payload)


def _error_description(payload: bytes) -> str:
    """The Description of the VOEvent's ``src_error_90`` Param."""
    v = vp.loads(payload)
    return str(next(p for p in v.What.Param if p.attrib["name"] == "src_error_90").Description)


def test_region_systematics_from_a_revision_provenance() -> None:
    """What a scan's update revision records (ingest/scanning/update.py) is read back."""
    prov = {"source": "reco", "regions": {
        "50": {"name": "calibrated-50", "systematics": "perturbed-ice v1"},
        "90": {"name": "calibrated-90", "threshold": 40.0, "systematics": "perturbed-ice v1"}}}
    assert region_systematics(prov) == "perturbed-ice v1"
    prov["regions"]["90"]["systematics"] = None  # type: ignore[index]
    assert region_systematics(prov) is None
    assert region_systematics({"regions": {"90": {"name": "wilks-90"}}}) is None
    assert region_systematics({}) is None
