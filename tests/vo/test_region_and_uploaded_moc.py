"""Issue 15 item 2: ADQL ``REGION('STC-S')`` and a MOC from a column of an uploaded table.

Expectations come from astropy (angular separations), mocpy (MOCs read from the same
ASCII text, their cells, intersections and areas) and a numpy point-in-convex-polygon test
written here; TAP (sync, CSV) must give the same rows.
"""

from __future__ import annotations

import csv
import io
import math
import warnings

import numpy as np
import pytest
import pyvo
from astropy import units as u
from astropy.coordinates import Latitude, Longitude, SkyCoord
from astropy.table import Table
from fastapi.testclient import TestClient
from mocpy import MOC

from catalog.notices.parsed import NoticeRecord

RNG_SEED = 2115


def _votable(columns: dict[str, object]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Table(columns).write(buf, format="votable")
    return buf.getvalue()


def _tap(client: TestClient, query: str, upload: bytes | None = None) -> list[list[str]]:
    """Rows of a sync query (CSV), with ``upload`` as TAP_UPLOAD.u; asserts success."""
    status, text = _post(client, query, upload)
    assert status == 200, text[:600]
    _header, *rows = csv.reader(io.StringIO(text, newline=""))
    return rows


def _post(client: TestClient, query: str, upload: bytes | None = None) -> tuple[int, str]:
    """(HTTP status, body) of a sync query."""
    data = {"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv", "MAXREC": "100000"}
    if upload is None:
        r = client.post("/tap/sync", data=data)
    else:
        r = client.post("/tap/sync", data={**data, "UPLOAD": "u,param:u"},
                        files={"u": ("u.xml", upload)})
    return r.status_code, r.text


def _points(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` positions uniform on the sphere, and a few on RA 0 and the poles."""
    ra = np.concatenate([rng.uniform(0, 360, n), [0.0, 359.9999, 10.0, 200.0]])
    dec = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
                          [0.5, -0.5, 90.0, -90.0]])
    return ra, dec


def _in_convex(ra: np.ndarray, dec: np.ndarray, verts: list[tuple[float, float]]
               ) -> np.ndarray:
    """Inside a convex spherical polygon (great-circle edges): on the same side of every
    edge as the polygon's winding (triple products of unit vectors)."""
    def unit(a: np.ndarray | float, d: np.ndarray | float) -> np.ndarray:
        a, d = np.radians(a), np.radians(d)
        return np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)], axis=-1)
    v = [unit(a, d) for a, d in verts]
    p = unit(ra, dec)
    wind = np.sign(np.dot(np.cross(v[0], v[1]), v[2]))
    inside = np.ones(len(ra), dtype=bool)
    for i in range(len(v)):
        inside &= wind * (p @ np.cross(v[i], v[(i + 1) % len(v)])) >= 0
    return inside


def _uploaded_ids(client: TestClient, region: str, ra: np.ndarray, dec: np.ndarray
                  ) -> set[int]:
    rows = _tap(client, "SELECT u.k FROM TAP_UPLOAD.u AS u WHERE 1 = CONTAINS("
                        f"POINT('ICRS', u.ra, u.dec), REGION('{region}'))",
                _votable({"k": np.arange(len(ra)), "ra": ra, "dec": dec}))
    return {int(r[0]) for r in rows}


def test_region_circle_box_polygon_position(client: TestClient) -> None:
    """Each STC-S shape selects the positions the independent test puts inside it."""
    rng = np.random.default_rng(RNG_SEED)
    ra, dec = _points(4000, rng)
    pts = SkyCoord(ra, dec, unit="deg")
    circle = SkyCoord(359.5, 20.0, unit="deg").separation(pts).deg <= 12.0
    assert _uploaded_ids(client, "Circle ICRS 359.5 20 12", ra, dec) == set(
        np.nonzero(circle)[0].tolist())
    verts = [(350.0, -10.0), (20.0, -15.0), (15.0, 25.0), (345.0, 20.0)]
    poly = _in_convex(ra, dec, verts)
    text = "Polygon ICRS " + " ".join(f"{a} {d}" for a, d in verts)
    assert poly.sum() > 50
    assert _uploaded_ids(client, text, ra, dec) == set(np.nonzero(poly)[0].tolist())
    # a Box is the polygon of its corners, centre +- half the full widths (as ADQL BOX)
    corners = [(110.0, -40.0), (150.0, -40.0), (150.0, -20.0), (110.0, -20.0)]
    box = _in_convex(ra, dec, corners)
    assert _uploaded_ids(client, "box icrs 130 -30 40 20", ra, dec) == set(
        np.nonzero(box)[0].tolist())
    (row,) = _tap(client, "SELECT DISTANCE(REGION('Position ICRS 10 20'), POINT('ICRS', "
                          "12, 21)) AS d, DISTANCE(REGION('Position ICRS GEOCENTER 10 20 unit "
                          "deg'), POINT('ICRS', 12, 21)) AS d2 FROM TAP_SCHEMA.schemas WHERE "
                          "schema_name = 'nufair'")
    want = SkyCoord(10, 20, unit="deg").separation(SkyCoord(12, 21, unit="deg")).deg
    assert math.isclose(float(row[0]), want, rel_tol=1e-9) and row[0] == row[1]


@pytest.mark.parametrize(("stcs", "message"), [
    ("Circle GALACTIC 10 20 1", "only ICRS"),
    ("Union ICRS (Circle 1 2 3 Circle 4 5 6)", "Union is not supported"),
    ("Circle ICRS 10 20", "takes 3 numbers"),
    ("Polygon ICRS 1 2 3 4", "at least three pairs"),
    ("Circle ICRS 10 20 1 unit arcsec", "unit arcsec"),
    ("Ellipse ICRS 10 20 1 2 3", "Ellipse is not supported"),
])
def test_region_refusals(client: TestClient, stcs: str, message: str) -> None:
    """Frames other than ICRS, compound shapes and wrong counts are refused, saying why."""
    status, text = _post(client, "SELECT name FROM nufair.alerts WHERE 1 = CONTAINS("
                                 f"POINT('ICRS', ra, dec), REGION('{stcs}'))")
    assert status == 400 and message in text, text[:400]


def _uploaded_mocs() -> list[tuple[str, str] | None]:
    """(uploaded text, the same MOC for mocpy) of ASCII MOCs as a client would upload
    them: from mocpy (cones at several depths), one written by hand with commas and a new
    line (MOC 1.1 style) and cells of two orders that overlap, and a NULL."""
    texts: list[tuple[str, str] | None] = []
    for ra, dec, r, depth in ((77.0, 6.0, 3.0, 6), (225.0, 10.0, 1.0, 8),
                              (314.0, 13.0, 4.0, 5), (0.5, 89.0, 5.0, 7)):
        moc = MOC.from_cone(Longitude(ra * u.deg), Latitude(dec * u.deg),
                            radius=r * u.deg, max_depth=depth)
        texts.append((moc.to_string(format="ascii"),) * 2)
    # 3/20-21 and 4/80-95 lie inside 2/5 (its children): the MOC is 2/5 and 3/19
    texts.append(("3/ 19,20,21 2/5\n4/80-95", "2/5 3/19"))
    texts.append(None)
    return texts


def _within(a: MOC, b: MOC) -> bool:
    """Whether MOC ``a`` lies inside ``b``: nothing of ``a`` outside ``b`` (mocpy 0.21's
    ``difference`` of MOCs of different depths loses cells: ``a - b`` of disjoint cones
    of depths 6 and 8 is empty, so it is not used)."""
    return bool(a.intersection(b.complement()).empty())


def _meets(a: MOC, b: MOC) -> bool:
    """Whether MOCs ``a`` and ``b`` share a cell."""
    return not a.intersection(b).empty()


def _holds(a: MOC, b: MOC) -> bool:
    """Whether MOC ``b`` lies inside ``a``."""
    return _within(b, a)


def test_moc_of_an_uploaded_column(client: TestClient, alerts: list[NoticeRecord]) -> None:
    """MOC(u.m) in CONTAINS with alert positions, INTERSECTS and CONTAINS with moc90,
    AREA and the MOC itself: as mocpy computes them from the same text."""
    texts = _uploaded_mocs()
    upload = _votable({"k": np.arange(len(texts)),
                       "m": np.ma.array([t[0] if t else "" for t in texts],
                                        mask=[t is None for t in texts])})
    mocs = {k: MOC.from_string(t[1], format="ascii") for k, t in enumerate(texts) if t}
    alert_pos = {str(r.name): (r.ra, r.dec) for r in alerts}
    got = {(int(k), n) for k, n in _tap(
        client, "SELECT u.k, a.name FROM TAP_UPLOAD.u AS u, nufair.alerts AS a "
                "WHERE 1 = CONTAINS(POINT('ICRS', a.ra, a.dec), MOC(u.m))", upload)}
    want = {(k, n) for k, m in mocs.items() for n, (a, d) in alert_pos.items()
            if m.contains_lonlat(a * u.deg, d * u.deg)[0]}
    assert got == want and len(want) >= 3
    m90 = {n: MOC.from_string(t, format="ascii") for n, t in _tap(
        client, "SELECT name, moc90 FROM nufair.alerts")}
    for predicate, test in (
            ("INTERSECTS(a.moc90, MOC(u.m))", _meets),
            ("CONTAINS(a.moc90, MOC(u.m))", _within),
            ("CONTAINS(MOC(u.m), a.moc90)", _holds)):
        got = {(int(k), n) for k, n in _tap(
            client, "SELECT u.k, a.name FROM TAP_UPLOAD.u AS u, nufair.alerts AS a "
                    f"WHERE 1 = {predicate}", upload)}
        want = {(k, n) for k, m in mocs.items() for n, a in m90.items() if test(a, m)}
        assert got == want, predicate
    rows = _tap(client, "SELECT k, AREA(MOC(m)) AS area, MOC(m) AS moc FROM TAP_UPLOAD.u "
                        "ORDER BY k", upload)
    full_sky = 4 * math.pi * (180 / math.pi) ** 2
    for k, area, text in rows:
        if int(k) not in mocs:
            assert area == "" and text == ""
            continue
        assert math.isclose(float(area), mocs[int(k)].sky_fraction * full_sky, rel_tol=1e-9)
        assert MOC.from_string(text, format="ascii") == mocs[int(k)]


def test_moc_of_an_uploaded_column_refuses_what_is_no_moc(client: TestClient) -> None:
    """A value that is not an ASCII MOC is refused before the query runs, by its row."""
    for bad, why in (("3/1-5 x", "not an ASCII MOC"), ("30/1", "order 30"),
                     ("1/50", "not a range of cells")):
        upload = _votable({"k": np.array([1, 2]), "m": np.array(["2/1", bad])})
        status, text = _post(client, "SELECT k FROM TAP_UPLOAD.u WHERE 1 = CONTAINS("
                                     "POINT('ICRS', 10, 10), MOC(m))", upload)
        assert status == 400 and "row 2" in text and why in text, text[:400]


def test_capabilities_declare_region_and_uploaded_mocs(client: TestClient) -> None:
    """pyvo reads REGION among the geometry features, and the moc UDF's description
    names uploaded columns."""
    r = client.get("/tap/capabilities")
    assert r.status_code == 200
    caps = pyvo.io.vosi.parse_capabilities(io.BytesIO(r.content))
    tap = next(c for c in caps if c.standardid == "ivo://ivoa.net/std/TAP")
    (adql,) = [lang for lang in tap.languages if lang.name == "ADQL"]
    assert adql.get_feature("ivo://ivoa.net/std/TAPRegExt#features-adqlgeo", "REGION")
    udf = adql.get_udf("moc")
    assert udf is not None and "uploaded table" in udf.description
