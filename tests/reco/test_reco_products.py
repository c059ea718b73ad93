"""Skymap FITS / PNG products and the ``scan`` / ``simulate`` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import healpy as hp
import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner
from mocpy import MOC

from nufair.commands.reco import scan, simulate
from reco.regions import moc_area_deg2
from reco.skymap import plot_skymap, write_flat_fits, write_multiorder_fits

from .test_reco_regions_scan import _analytic_result


def test_flat_fits_round_trip_and_header(tmp_path: Path) -> None:
    """The flat nside-512 FITS skymap is valid, carries the event and region cards, and
    healpy reads it as an ordinary map."""
    from reco.regions import compute_regions

    result = _analytic_result()
    result.regions = compute_regions(result, calibration={"thresholds": {"0.5": 3.0, "0.9": 9.0}})
    path = tmp_path / "map.fits"
    write_flat_fits(result, path)
    with fits.open(path) as hdul:
        hdul.verify("exception")
        h = hdul[1].header
        data = hdul[1].data
        assert (h["NSIDE"], h["ORDERING"], h["COORDSYS"]) == (512, "RING", "C")
        assert h["RUNID"] == 1 and h["EVENTID"] == 2
        assert h["THRESH90"] == 9.0
        assert h["RA_ERR_PLUS"] > 0 and h["DEC_ERR_MINUS"] > 0
        assert np.allclose(data["2DLLH"], result.delta_llh_map(512))
        assert data["PROB"].sum() == pytest.approx(1.0)
    # healpy reads it as an ordinary HEALPix map.
    m = hp.read_map(path, field=0)
    assert hp.get_nside(m) == 512 and np.nanargmin(m) == np.nanargmin(result.delta_llh_map(512))


def test_multiorder_fits_probability_is_normalised(tmp_path: Path) -> None:
    """The multi-order FITS skymap's probability sums to one."""
    result = _analytic_result()
    path = tmp_path / "map.multiorder.fits"
    write_multiorder_fits(result, path)
    with fits.open(path) as hdul:
        d = hdul[1].data
        assert hdul[1].header["ORDERING"] == "NUNIQ"
        order = np.log2(d["UNIQ"] // 4).astype(int) // 2
        area = 4 * np.pi / (12 * 4.0**order)
        assert np.sum(d["PROBDENSITY"] * area) == pytest.approx(1.0)
        # Densest cell at the best fit.
        top = d["UNIQ"][np.argmax(d["PROBDENSITY"])]
        o = int(np.log2(top // 4) // 2)
        nest = top - 4 * 4**o
        theta, phi = hp.pix2ang(2**o, nest, nest=True)
        assert abs(np.degrees(phi) - 150.0) < 0.2 and abs(90 - np.degrees(theta) - 20.0) < 0.2


def test_png_is_written(tmp_path: Path) -> None:
    """The skymap PNG is written."""
    result = _analytic_result()
    path = tmp_path / "map.png"
    plot_skymap(result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_and_scan_commands(tmp_path: Path, dask_client: Any) -> None:
    """``nufair simulate`` is deterministic per seed, and ``nufair scan`` on a scheduler
    writes every product, with MOC areas equal to the region areas."""
    runner = CliRunner()
    out = runner.invoke(
        simulate,
        ["--n", "2", "--seed", "5", "--out", str(tmp_path / "ev"), "--emin", "20", "--emax", "30"],
    )
    assert out.exit_code == 0, out.output
    events = sorted((tmp_path / "ev").glob("*.json"))
    assert len(events) == 2
    again = runner.invoke(
        simulate,
        ["--n", "2", "--seed", "5", "--out", str(tmp_path / "ev2"), "--emin", "20", "--emax", "30"],
    )
    assert again.exit_code == 0
    assert events[0].read_text() == (tmp_path / "ev2" / events[0].name).read_text()

    res = runner.invoke(
        scan,
        [
            str(events[0]),
            "--out",
            str(tmp_path / "scan"),
            "--scheduler",
            dask_client.scheduler.address,
            "--nsides",
            "8:0,32:4,128:6",
        ],
    )
    assert res.exit_code == 0, res.output
    files = {p.name.split(".", 2)[-1] for p in (tmp_path / "scan").iterdir()}
    for suffix in (
        "result.json",
        "skymap_nside512.fits.gz",
        "skymap.multiorder.fits",
        "skymap.png",
        "moc_wilks-90.fits",
        "moc_wilks-90.json",
        "moc_wilks-90.txt",
    ):
        assert suffix in files
    stem = events[0].name
    result_file = next((tmp_path / "scan").glob("*.result.json"))
    data = json.loads(result_file.read_text())
    w90 = next(r for r in data["regions"] if r["name"] == "wilks-90")
    moc = MOC.load(str(next((tmp_path / "scan").glob("*.moc_wilks-90.fits"))), format="fits")
    assert moc_area_deg2(moc) == pytest.approx(w90["area_deg2"], rel=1e-9)
    assert stem  # the event file name is kept for the reader of a failure message


def test_scan_command_rejects_an_invalid_event(tmp_path: Path) -> None:
    """``nufair scan`` refuses an event that fails the schema, saying why."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"observatory": "IceCube", "run_id": 1}))
    res = CliRunner().invoke(scan, [str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0
    assert "invalid event" in res.output
