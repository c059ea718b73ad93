"""The finest level of a scan covers the calibrated 90 % region (ScanConfig.region_refine), on
the synthetic bowl of test_reco_refinement (2ΔLLH = 4 θ², θ in degrees)."""

from __future__ import annotations

from typing import Any

import healpy as hp
import numpy as np
import pytest

import reco.refinement
from reco.detector import Detector
from reco.regions import compute_regions
from reco.scan import run_scan
from reco.scan_config import ScanConfig
from reco.simulate import SimulatedEvent

from .test_reco_refinement import inprocess_client  # noqa: F401  (fixture)

WIDE = {"thresholds": {"0.5": 20.0, "0.9": 40.0}}
"""A calibration whose 90 % region on the bowl is the cap θ ≤ √10° (31.4 deg², ~37 nside-64
pixels: wider than the 4 refined)."""


def _fine_share(region_refine: float, detector: Detector, event: Any, client: Any) -> float:
    config = ScanConfig(nsides=((8, 0), (64, 4), (512, 4)), polish_rounds=0,
                        region_refine=region_refine)
    res = run_scan(event, detector, config, client=client)
    reg = next(r for r in compute_regions(res, calibration=WIDE) if r.name == "calibrated-90")
    assert reg.area_deg2 == pytest.approx(np.pi * 10.0, rel=0.1)
    fitted = set(hp.ring2nest(512, res.levels[-1].pixel).tolist())
    return float(np.mean([p in fitted for p in reg.pixels.tolist()]))


def test_finest_level_covers_the_calibrated_region(
    small_track: SimulatedEvent, detector: Detector, inprocess_client: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With region_refine every nside-512 pixel of the 90 % region was fitted at nside 512;
    without it most of the region keeps the nside-64 values."""
    monkeypatch.setattr(reco.refinement, "calibrated_thresholds", lambda: WIDE)
    assert _fine_share(1.2, detector, small_track.event, inprocess_client) == 1.0
    assert _fine_share(0.0, detector, small_track.event, inprocess_client) < 0.5
