"""Regions as polygons (``region90``, ``s_region``) and ``ivoa.obscore`` (issue 15).

The polygons are checked here with numpy and astropy, independently of the SQL that draws
them: every point of the published shape's boundary (a circle with astropy's
``directional_offset_by``, a box's parallels and meridians) lies inside the polygon
(tested in a gnomonic projection about the region's centre, where great-circle edges are
straight lines), and every point of the polygon's edges lies outside the shape by no more
than the deviation TAP_SCHEMA states.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest
import pyvo
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io.votable import parse_single_table
from fastapi.testclient import TestClient
from mocpy import MOC

from catalog.importers import sample_paths
from catalog.importers.icecat import read_icecat_csv
from catalog.notices.parsed import NoticeRecord
from catalog.storage.events import CatalogStorage
from tests.catalog.records_factory import record
from vo.tables_obscore import BOX_DEVIATION_DEG, CIRCLE_DEVIATION

#: Circles (name, ra, dec, r90): across RA 0, near both poles, a wide one, a plain one.
CIRCLES = [("C-WRAP", 359.2, 12.0, 2.5), ("C-NORTH", 40.0, 88.0, 3.0),
           ("C-SOUTH", 200.0, -87.5, 1.7), ("C-WIDE", 300.0, 40.0, 25.0),
           ("C-PLAIN", 120.0, -30.0, 0.8)]
#: Boxes (name, ra, dec, (ra+, ra-, dec+, dec-)): across RA 0, far north and south.
BOXES = [("B-WRAP", 0.5, -20.0, (2.0, 3.0, 1.5, 2.5)),
         ("B-NORTH", 150.0, 70.0, (12.0, 9.0, 4.0, 3.0)),
         ("B-SOUTH", 33.0, -75.0, (15.0, 20.0, 2.0, 5.0)),
         ("B-POLE", 10.0, 86.0, (3.0, 4.0, 6.0, 2.0))]


@pytest.fixture
def regions(storage: CatalogStorage) -> list[NoticeRecord]:
    """The IceCat-1 sample's boxes, :data:`CIRCLES` and :data:`BOXES`, imported."""
    path = next(p for p in sample_paths() if p.name == "IceCube_Gold_Bronze_Tracks.csv")
    icecat = [r for r in read_icecat_csv(path.read_text()).records if r.region(0.9)]
    made = [record(run=9000 + i, event=i, name=name, ra=ra, dec=dec, r90=r90)
            for i, (name, ra, dec, r90) in enumerate(CIRCLES)]
    made += [record(run=9100 + i, event=i, name=name, ra=ra, dec=dec, r90=None, box90=box)
             for i, (name, ra, dec, box) in enumerate(BOXES)]
    storage.import_records(icecat + made)
    return icecat + made


def _tap(client: TestClient, query: str) -> list[dict[str, Any]]:
    """Rows of a TAP sync query (VOTable, read with astropy), as dicts."""
    r = client.post("/tap/sync", data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query})
    assert r.status_code == 200, r.text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = parse_single_table(io.BytesIO(r.content)).to_table(use_names_over_ids=True)
    return [{c: (None if np.ma.is_masked(row[c]) else row[c]) for c in table.colnames}
            for row in table]


def _unit(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    a, d = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)], axis=-1)


def _radec(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return np.degrees(np.arctan2(v[..., 1], v[..., 0])) % 360, np.degrees(np.arcsin(v[..., 2]))


def _gnomonic(ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float) -> np.ndarray:
    """(x east, y north) in the gnomonic projection about (ra0, dec0): great circles are
    straight lines there."""
    a, d, a0, d0 = np.radians(ra), np.radians(dec), np.radians(ra0), np.radians(dec0)
    cosc = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    assert np.all(cosc > 0.05), "the test's projection needs the region in one hemisphere"
    x = np.cos(d) * np.sin(a - a0) / cosc
    y = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / cosc
    return np.stack([x, y], axis=-1)


def _inside(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd ray casting of plane ``points`` against the plane polygon ``poly``."""
    x, y = points[:, 0][:, None], points[:, 1][:, None]
    x1, y1 = poly[:, 0][None, :], poly[:, 1][None, :]
    x2, y2 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    return np.asarray(np.sum(crosses & (x < xc), axis=1) % 2 == 1)


def _edges(vertices: np.ndarray, per_edge: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Points along the polygon's great-circle edges (the closing edge included)."""
    v = _unit(vertices[:, 0], vertices[:, 1])
    w = np.roll(v, -1, axis=0)
    t = np.linspace(0.0, 1.0, per_edge)[None, :, None]
    return _radec(v[:, None, :] * (1 - t) + w[:, None, :] * t)


def _box_edges(ra0: float, dec0: float, box: tuple[float, float, float, float]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Points on the box's boundary, 1e-7 degree inside it (a pole: 1e-4 degree from it,
    where every meridian of the sector meets at the polygon's pole vertex)."""
    plus, minus, dplus, dminus = box
    eps = 1e-7
    top = min(dec0 + dplus - eps, 90.0 - 1e-4)
    bottom = max(dec0 - dminus + eps, -90.0 + 1e-4)
    ras = np.linspace(ra0 - minus + eps, ra0 + plus - eps, 400)
    decs = np.linspace(bottom, top, 200)
    ra = np.concatenate([ras, ras, np.full_like(decs, ras[0]), np.full_like(decs, ras[-1])])
    dec = np.concatenate([np.full_like(ras, top), np.full_like(ras, bottom), decs, decs])
    return ra % 360, dec


def _check_box(row: dict[str, Any], poly: np.ndarray, box: tuple[float, ...]) -> None:
    ra0, dec0 = float(row["ra"]), float(row["dec"])
    plus, minus, dplus, dminus = box
    plane = _gnomonic(poly[:, 0], poly[:, 1], ra0, dec0)
    ra, dec = _box_edges(ra0, dec0, (plus, minus, dplus, dminus))
    assert _inside(_gnomonic(ra, dec, ra0, dec0), plane).all(), row["name"]
    era, edec = _edges(poly)
    offset = (era - ra0 + 180.0) % 360.0 - 180.0
    top, bottom = min(dec0 + dplus, 90.0), max(dec0 - dminus, -90.0)
    tol = 1e-9
    inside = ((edec < top - tol) & (edec > bottom + tol)
              & (offset > -minus + tol) & (offset < plus - tol))
    assert not inside.any(), f"{row['name']}: polygon edge inside the box"
    assert (edec <= top + BOX_DEVIATION_DEG + tol).all() and \
        (edec >= bottom - BOX_DEVIATION_DEG - tol).all(), row["name"]
    near_pole = (edec > 89.9) | (edec < -89.9)
    assert ((offset >= -minus - tol) & (offset <= plus + tol) | near_pole).all(), row["name"]


def _check_circle(row: dict[str, Any], poly: np.ndarray, r: float) -> None:
    ra0, dec0 = float(row["ra"]), float(row["dec"])
    centre = SkyCoord(ra0, dec0, unit="deg")
    rim = centre.directional_offset_by(np.linspace(0, 360, 720) * u.deg, r * (1 - 1e-7) * u.deg)
    plane = _gnomonic(poly[:, 0], poly[:, 1], ra0, dec0)
    inside = _inside(_gnomonic(rim.ra.deg, rim.dec.deg, ra0, dec0), plane)
    assert inside.all(), row["name"]
    era, edec = _edges(poly)
    sep = centre.separation(SkyCoord(era, edec, unit="deg")).deg
    assert (sep >= r - 1e-9).all(), f"{row['name']}: polygon edge inside the circle"
    assert (sep <= r * (1 + CIRCLE_DEVIATION) + 1e-9).all(), row["name"]


def test_region90_encloses_the_published_shape(client: TestClient,
                                               regions: list[NoticeRecord]) -> None:
    """Every region90 polygon encloses its circle or box, within the stated deviation,
    counter-clockwise seen from inside (negative area with x east)."""
    rows = _tap(client, "SELECT name, ra, dec, shape90, r90, ra_err_plus_90, ra_err_minus_90, "
                        "dec_err_plus_90, dec_err_minus_90, region90 FROM nufair.alerts")
    assert len(rows) == len(regions)
    for row in rows:
        poly = np.asarray(row["region90"], dtype=float).reshape(-1, 2)
        plane = _gnomonic(poly[:, 0], poly[:, 1], float(row["ra"]), float(row["dec"]))
        x, y = plane[:, 0], plane[:, 1]
        area = np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
        assert area < 0, f"{row['name']}: not counter-clockwise seen from inside"
        if row["shape90"] == "circle":
            _check_circle(row, poly, float(row["r90"]))
        else:
            box = tuple(float(row[k]) for k in ("ra_err_plus_90", "ra_err_minus_90",
                                                "dec_err_plus_90", "dec_err_minus_90"))
            _check_box(row, poly, box)


def test_tap_schema_says_what_region_and_moc_mean(client: TestClient) -> None:
    """TAP_SCHEMA: MOC = covering, region = enclosing polygon with its deviation."""
    rows = _tap(client, "SELECT column_name, datatype, xtype, description FROM "
                        "tap_schema.columns WHERE table_name = 'nufair.alerts' AND "
                        "column_name IN ('moc90', 'region90')")
    by = {r["column_name"]: r for r in rows}
    assert by["region90"]["xtype"] == "polygon" and by["region90"]["datatype"] == "double"
    assert "encloses" in str(by["region90"]["description"])
    assert f"{BOX_DEVIATION_DEG} degree" in str(by["region90"]["description"])
    assert "Covering" in str(by["moc90"]["description"])


def test_pyvo_finds_each_revisions_mocs_in_obscore(live_url: str,
                                                   alerts: list[NoticeRecord]) -> None:
    """pyvo searches ivoa.obscore: one row per MOC of each revision, its access URL a MOC
    that mocpy reads and that holds the best fit, its s_region the revision's polygon."""
    tap = pyvo.dal.TAPService(f"{live_url}/tap")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = tap.search("SELECT o.obs_publisher_did, o.dataproduct_subtype, o.access_url, "
                          "o.access_format, o.s_ra, o.s_dec, o.s_region, o.t_min, o.em_min, "
                          "o.em_max, o.facility_name, r.region50, r.region90, r.event_mjd "
                          "FROM ivoa.obscore AS o JOIN nufair.revisions AS r "
                          "ON r.revision_id = o.revision_id").to_table()
    # Every sample alert has a 50 % and a 90 % region, one revision, no skymap file.
    assert sum(len(rec.regions) for rec in alerts) == 2 * len(alerts) == len(rows)
    got = {(str(did).split("#")[0], str(sub)) for did, sub in
           zip(rows["obs_publisher_did"], rows["dataproduct_subtype"], strict=True)}
    assert len(got) == len(rows) and {sub for _, sub in got} == {"moc50", "moc90"}
    for row in rows:
        url = str(row["access_url"])
        assert url.startswith(f"{live_url}/datalink/moc?ID=ivo://nufair/alerts?")
        assert row["access_format"] == "application/fits" and row["facility_name"] == "IceCube"
        assert row["t_min"] == row["event_mjd"] and row["em_min"] < row["em_max"]
        polygon = np.asarray(row[f"region{str(row['dataproduct_subtype'])[3:]}"], dtype=float)
        assert str(row["s_region"]).split() == ["Polygon", "ICRS", *map(repr, polygon)] or \
            np.allclose([float(x) for x in str(row["s_region"]).split()[2:]], polygon,
                        rtol=0, atol=1e-12)
        moc = MOC.from_url(url)
        assert moc.contains_lonlat(float(row["s_ra"]) * u.deg, float(row["s_dec"]) * u.deg)[0]
