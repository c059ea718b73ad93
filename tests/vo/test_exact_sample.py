"""Issue 15, done-when: ``CONTAINS(POINT, moc90)`` through TAP against an independent
computation of the published shape, for every alert of the bundled sample (imported as
``nufair import`` does) and more than 10 000 positions, RA 0 and the poles included.

The published shape of each alert is read from its columns (``shape90``: a circle of
radius ``r90`` or a box of half-widths ``ra/dec_err_plus/minus_90``; a region without
either is its MOC). Which positions it holds is computed here: astropy separations for
circles, numpy arithmetic for boxes, mocpy for MOC-only regions. TAP answers three ways
with one uploaded table each (so not 10 000 queries): the whole list joined on
``CONTAINS`` (a large upload: the tiles are scanned), the same with ``INTERSECTS`` and the
alerts first, and a smaller list (its sources looked up in the tiles' index) both joined
and under an ``OR`` (a correlated test per pair). Each must equal the independent pairs.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from fastapi.testclient import TestClient
from mocpy import MOC

from catalog.importers import iter_paths, sample_paths
from catalog.service import import_files
from catalog.storage.events import CatalogStorage

RNG_SEED = 1590
#: Positions drawn near the edges of each region (on both sides), and uniformly.
PER_REGION, UNIFORM = 24, 2500


@dataclass(frozen=True, slots=True)
class Shape:
    """The published 90 % region of an alert, as its columns give it."""

    name: str
    ra: float
    dec: float
    kind: str  # circle, box or moc
    r: float | None
    box: tuple[float, float, float, float] | None  # ra+, ra-, dec+, dec-
    moc: MOC | None


def _csv(client: TestClient, query: str, upload: bytes | None = None) -> list[list[str]]:
    data = {"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv", "MAXREC": "1000000"}
    if upload is None:
        r = client.post("/tap/sync", data=data)
    else:
        r = client.post("/tap/sync", data={**data, "UPLOAD": "src,param:src"},
                        files={"src": ("src.xml", upload)})
    assert r.status_code == 200, r.text[:600]
    _header, *rows = csv.reader(io.StringIO(r.text, newline=""))
    return rows


@pytest.fixture
def shapes(storage: CatalogStorage, client: TestClient) -> list[Shape]:
    """The whole sample imported; the published 90 % region of every alert that has one."""
    report = import_files(storage, list(iter_paths(sample_paths())))
    assert report.refused == []
    out = []
    for row in _csv(client, "SELECT name, ra, dec, shape90, r90, ra_err_plus_90, "
                            "ra_err_minus_90, dec_err_plus_90, dec_err_minus_90, moc90 "
                            "FROM nufair.alerts WHERE moc90 IS NOT NULL"):
        name, ra, dec, kind, r, plus, minus, dplus, dminus, moc = row
        box = None
        if kind == "box":
            box = (float(plus), float(minus), float(dplus), float(dminus))
        elif kind != "circle":
            kind = "moc"
        out.append(Shape(name, float(ra), float(dec), kind, float(r) if r else None, box,
                         MOC.from_string(moc, format="ascii") if kind == "moc" else None))
    return out


def _inside(shapes: list[Shape], ra: np.ndarray, dec: np.ndarray) -> set[tuple[int, str]]:
    """(position, alert) pairs: each position in each published region, computed here."""
    pairs: set[tuple[int, str]] = set()
    points = SkyCoord(ra, dec, unit="deg")
    for s in shapes:
        if s.kind == "circle":
            assert s.r is not None
            hit = SkyCoord(s.ra, s.dec, unit="deg").separation(points).deg <= s.r
        elif s.kind == "box":
            assert s.box is not None
            plus, minus, dplus, dminus = s.box
            offset = np.mod(ra - s.ra + 180.0, 360.0) - 180.0  # signed RA difference
            hit = ((dec >= s.dec - dminus) & (dec <= s.dec + dplus)
                   & ((plus + minus >= 360.0) | ((offset >= -minus) & (offset <= plus))))
        else:
            assert s.moc is not None
            hit = s.moc.contains_lonlat(ra * u.deg, dec * u.deg)
        pairs |= {(int(j), s.name) for j in np.nonzero(hit)[0]}
    return pairs


def _positions(shapes: list[Shape], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Within a degree of every region's edge (both sides), uniform on the sphere, and on
    RA 0 / 360 and the poles."""
    ras, decs = [], []
    for s in shapes:
        if s.kind == "box" and s.box is not None:
            plus, minus, dplus, dminus = s.box
            edge_ra = rng.random(PER_REGION) < 0.5
            jitter = rng.uniform(-1.0, 1.0, PER_REGION)
            side = rng.random(PER_REGION) < 0.5
            ra = np.where(edge_ra, np.where(side, s.ra + plus, s.ra - minus) + jitter,
                          rng.uniform(s.ra - minus - 1, s.ra + plus + 1, PER_REGION))
            dec = np.where(edge_ra, rng.uniform(s.dec - dminus - 0.5, s.dec + dplus + 0.5,
                                                PER_REGION),
                           np.where(side, s.dec + dplus, s.dec - dminus) + jitter)
        else:
            radius = s.r if s.r is not None else 1.0
            c = SkyCoord(s.ra, s.dec, unit="deg").directional_offset_by(
                rng.uniform(0, 360, PER_REGION) * u.deg,
                np.abs(radius + rng.uniform(-1.0, 1.0, PER_REGION)) * u.deg)
            ra, dec = c.ra.deg, c.dec.deg
        ras.append(np.mod(ra, 360.0))
        decs.append(np.clip(dec, -90.0, 90.0))
    ras.append(rng.uniform(0, 360, UNIFORM))
    decs.append(np.degrees(np.arcsin(rng.uniform(-1, 1, UNIFORM))))
    ras.append(np.array([0.0, 359.999999, 0.0, 180.0, 0.0, 90.0]))
    decs.append(np.array([0.0, 0.0, 90.0, 90.0, -90.0, -90.0]))
    return np.concatenate(ras), np.concatenate(decs)


def _upload(ra: np.ndarray, dec: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Table({"sid": np.arange(len(ra)), "ra": ra, "dec": dec}).write(
            buf, format="votable", tabledata_format="binary2")
    return buf.getvalue()


def test_every_sample_alert_and_10000_positions(client: TestClient,
                                                shapes: list[Shape]) -> None:
    """TAP = the independent answer, pair for pair, over the whole sample."""
    assert len(shapes) > 300 and {s.kind for s in shapes} >= {"circle", "box"}
    ra, dec = _positions(shapes, np.random.default_rng(RNG_SEED))
    assert len(ra) >= 10_000 and (ra < 1).any() and (ra > 359).any()
    assert (np.abs(dec) == 90).any()
    want = _inside(shapes, ra, dec)
    assert len(want) > 2000
    joined = _csv(client, "SELECT u.sid, a.name FROM TAP_UPLOAD.src AS u JOIN nufair.alerts "
                          "AS a ON 1 = CONTAINS(POINT('ICRS', u.ra, u.dec), a.moc90)",
                  _upload(ra, dec))
    assert {(int(s), n) for s, n in joined} == want
    flipped = _csv(client, "SELECT u.sid, a.name FROM nufair.alerts AS a, TAP_UPLOAD.src "
                           "AS u WHERE 1 = INTERSECTS(a.moc90, POINT('ICRS', u.ra, u.dec))",
                   _upload(ra, dec))
    assert {(int(s), n) for s, n in flipped} == want
    # A small list (index lookups per source), joined and as a correlated test under OR.
    few = np.random.default_rng(RNG_SEED + 1).choice(len(ra), 300, replace=False)
    renumbered = {int(j): i for i, j in enumerate(few)}  # the small list's own sids
    few_want = {(renumbered[j], n) for j, n in want if j in renumbered}
    for where in ("1 = CONTAINS(POINT('ICRS', u.ra, u.dec), a.moc90)",
                  "(1 = CONTAINS(POINT('ICRS', u.ra, u.dec), a.moc90) OR a.ra < -1000)"):
        rows = _csv(client, f"SELECT u.sid, a.name FROM TAP_UPLOAD.src AS u, nufair.alerts "
                            f"AS a WHERE {where}", _upload(ra[few], dec[few]))
        assert {(int(s), n) for s, n in rows} == few_want, where
