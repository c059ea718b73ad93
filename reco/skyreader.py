"""Scan results in skymap_scanner / SkyDriver's JSON, both ways.

SkyDriver and skymap_scanner publish a scan as one JSON object keyed ``"nside-N"``; each entry
has ``columns`` (``index, llh, E_in, E_tot, X, Y, Z, T``: RING pixel in equatorial
coordinates, :math:`-\\ln L`, deposited and total energy [GeV], vertex [m], time [ns]),
``metadata`` (``nside, complete, run_id, event_id, event_type, mjd, is_real_event,
version``) and ``data`` rows; NaN is written as the string :data:`NAN_SENTINEL`. This is the
form the ``icecube-skyreader`` package reads (``SkyScanResult.deserialize``). nufair's
:class:`~reco.result.ScanResult` holds the same per-pixel quantities, so the mapping is
direct:

- ``llh`` ↔ ``LevelResult.llh``; ``X, Y, Z, T`` ↔ ``x, y, z, t``;
- ``E_tot`` ↔ ``energy`` (TeV ↔ GeV); ``E_in`` (millipede's energy deposited inside the
  detector) has no counterpart in a track fit: exported as NaN, ignored on import.

Examples
--------
>>> from reco.skyreader import NAN_SENTINEL
>>> NAN_SENTINEL
'<skyreader.nan>'
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import healpy as hp
import numpy as np

from reco.coords import equatorial_to_local
from reco.result import BestFit, LevelResult, ScanResult, ScanStats

#: How skyreader writes NaN in JSON.
NAN_SENTINEL = "<skyreader.nan>"
#: The pixel columns of skyreader's result version 1.
COLUMNS = ["index", "llh", "E_in", "E_tot", "X", "Y", "Z", "T"]
_MJD0 = datetime(1858, 11, 17, tzinfo=UTC)


def _out(value: float) -> float | str:
    return NAN_SENTINEL if not math.isfinite(value) else float(value)


def _in(value: Any) -> float:
    if value is None or value == NAN_SENTINEL:
        return math.nan
    return float(value)


def export_result(result: ScanResult, event_type: str = "neutrino",
                  is_real_event: bool = True) -> dict[str, Any]:
    """``result`` as skymap_scanner result JSON (a dict ready for ``json.dump``).

    ``is_real_event`` must be False for simulated events (skyreader checks that real run
    numbers lie in [10⁵, 10⁶)).
    """
    out: dict[str, Any] = {}
    for level in sorted(result.levels, key=lambda lv: lv.nside):
        rows = [
            [int(p), _out(llh), NAN_SENTINEL, _out(1e3 * e), _out(x), _out(y), _out(z), _out(t)]
            for p, llh, e, x, y, z, t in zip(level.pixel, level.llh, level.energy, level.x,
                                             level.y, level.z, level.t, strict=True)
        ]
        out[f"nside-{level.nside}"] = {
            "columns": list(COLUMNS),
            "metadata": {
                "nside": int(level.nside),
                "complete": len(level.pixel) == hp.nside2npix(level.nside),
                "run_id": int(result.run_id), "event_id": int(result.event_id),
                "event_type": event_type, "mjd": float(result.event_time_mjd),
                "is_real_event": bool(is_real_event), "version": 1,
            },
            "data": rows,
        }
    return out


def _level(nside: int, entry: dict[str, Any]) -> LevelResult:
    columns = entry.get("columns")
    if columns != COLUMNS:
        raise ValueError(f"nside-{nside}: columns {columns!r}, expected {COLUMNS}")
    rows = sorted(entry["data"], key=lambda row: int(row[0]))
    if any(len(row) != len(COLUMNS) for row in rows):
        raise ValueError(f"nside-{nside}: rows must have {len(COLUMNS)} values")
    pixel = np.array([int(row[0]) for row in rows], dtype=np.int64)
    if pixel.size and (pixel.min() < 0 or pixel.max() >= hp.nside2npix(nside)):
        raise ValueError(f"nside-{nside}: pixel index out of range")
    cols = np.array([[_in(v) for v in row[1:]] for row in rows], dtype=float).reshape(-1, 7)
    llh, _e_in, e_tot, x, y, z, t = cols.T
    return LevelResult(nside, pixel, llh, x, y, z, t, e_tot / 1e3)


def import_result(data: dict[str, Any]) -> ScanResult:
    """A skymap_scanner / SkyDriver result JSON as nufair's :class:`ScanResult`.

    The best fit is the pixel of lowest ``llh`` over all resolutions (as skyreader's
    ``best_fit``); its detector direction is computed at the result's MJD. Regions are left
    empty (:func:`reco.regions.compute_regions` makes them from the levels).
    """
    levels: list[LevelResult] = []
    meta: dict[str, Any] = {}
    for key, entry in data.items():
        if not key.startswith("nside-"):
            raise ValueError(f"unexpected key {key!r} (expected 'nside-N')")
        nside = int(key.removeprefix("nside-"))
        meta = entry.get("metadata", {})
        if int(meta.get("nside", nside)) != nside:
            raise ValueError(f"{key}: metadata nside {meta.get('nside')}")
        levels.append(_level(nside, entry))
    if not levels:
        raise ValueError("no nside entries")
    levels.sort(key=lambda lv: lv.nside)
    best_level, best_i = min(
        ((lv, int(np.nanargmin(lv.llh))) for lv in levels if np.isfinite(lv.llh).any()),
        key=lambda pair: float(pair[0].llh[pair[1]]))
    theta, phi = hp.pix2ang(best_level.nside, int(best_level.pixel[best_i]))
    ra, dec = float(phi), float(np.pi / 2 - theta)
    mjd = float(meta["mjd"])
    when = _MJD0 + timedelta(days=mjd)
    zen, azi = equatorial_to_local(ra, dec, when)
    i = best_i
    best = BestFit(
        nside=best_level.nside, pixel=int(best_level.pixel[i]), ra=ra, dec=dec,
        zenith=float(zen), azimuth=float(azi), llh=float(best_level.llh[i]),
        vertex=(float(best_level.x[i]), float(best_level.y[i]), float(best_level.z[i])),
        time=float(best_level.t[i]), energy=float(best_level.energy[i]))
    return ScanResult(
        run_id=int(meta["run_id"]), event_id=int(meta["event_id"]), event_time_mjd=mjd,
        levels=levels, best=best, first_guess={}, stats=ScanStats(),
        config={"source": "skymap_scanner", "event_type": str(meta.get("event_type", ""))})
