"""reco.skyreader: our scans in skymap_scanner's result JSON, read back by IceCube's own
``icecube-skyreader``; skymap_scanner's result for IceCube-231202A imported as a ScanResult."""

from __future__ import annotations

import json
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import healpy as hp
import numpy as np
import pytest

from reco.detector import Detector
from reco.scan import run_scan
from reco.scan_config import ScanConfig
from reco.simulate import SimulatedEvent
from reco.skyreader import export_result, import_result

with warnings.catch_warnings():  # skyreader.plot overrides a matplotlib Axes method the old way
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    from skyreader import SkyScanResult

THEIRS = resources.files("tests.data.reco").joinpath(
    "i3live/run00138632.evt000031747601.millipede_wilks.nside1.json")


def theirs() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(THEIRS.read_text("utf-8"))  # bare NaN: Python's json
    return data


def test_import_skymap_scanner_result() -> None:
    data = theirs()
    rows = data["nside-1"]["data"]
    result = import_result(data)
    assert (result.run_id, result.event_id) == (138632, 31747601)
    (level,) = result.levels
    assert level.nside == 1 and list(level.pixel) == list(range(12))
    llh = np.array([row[1] for row in rows], dtype=float)
    best_row = rows[int(np.nanargmin(llh))]
    assert result.best.pixel == best_row[0] and result.best.llh == best_row[1]
    assert result.best.vertex == tuple(best_row[4:7]) and result.best.time == best_row[7]
    theta, phi = hp.pix2ang(1, best_row[0])
    assert (result.best.ra, result.best.dec) == pytest.approx((phi, np.pi / 2 - theta))
    # skyreader, reading their file itself, finds the same best direction.
    ra, dec = SkyScanResult.deserialize(data).best_dir
    assert (result.best.ra, result.best.dec) == pytest.approx((float(ra), float(dec)))


def test_round_trip_through_skyreader(tmp_path: Path) -> None:
    data = theirs()
    ours = export_result(import_result(data))
    path = tmp_path / "ours.json"
    path.write_text(json.dumps(ours, allow_nan=False))  # strict JSON: NaN as the sentinel
    read = SkyScanResult.read_json(path).result["nside-1"]
    orig = SkyScanResult.deserialize(data).result["nside-1"]
    for field in ("index", "llh", "E_tot", "X", "Y", "Z", "T"):
        assert np.allclose(read[field], orig[field], rtol=1e-12, equal_nan=True), field
    assert np.isnan(read["E_in"]).all()  # no counterpart in a track fit
    meta = read.dtype.metadata
    assert meta is not None
    assert (meta["run_id"], meta["event_id"], meta["nside"]) == (138632, 31747601, 1)
    assert meta["complete"] is True


def test_export_of_a_nufair_scan_reads_in_skyreader(
        small_track: SimulatedEvent, detector: Detector, dask_client: Any,
        tmp_path: Path) -> None:
    config = ScanConfig(nsides=((8, 0), (32, 6)), batch_size=64)
    result = run_scan(small_track.event, detector, config, client=dask_client)
    path = tmp_path / "scan.json"
    path.write_text(json.dumps(export_result(result, is_real_event=False), allow_nan=False))
    read = SkyScanResult.read_json(path)
    assert read.nsides == [8, 32]
    for level in result.levels:
        got = read.result[f"nside-{level.nside}"]
        assert np.array_equal(got["index"], level.pixel)
        assert np.allclose(got["llh"], level.llh, equal_nan=True)
        assert np.allclose(got["E_tot"], 1e3 * level.energy, equal_nan=True)
    # skyreader's best direction (its own RING pixel → angle) is nufair's best fit.
    ra, dec = read.best_dir
    assert float(ra) == pytest.approx(result.best.ra) and float(dec) == pytest.approx(
        result.best.dec)
    assert float(read.min_llh) == pytest.approx(result.best.llh)
