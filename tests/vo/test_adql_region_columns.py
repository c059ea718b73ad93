"""Issue 15: ``CONTAINS(POINT, region90)`` (and region50, INTERSECTS, a point from an
upload or another table) answers for the exact published region, the same as ``moc90``,
though the column itself is a polygon drawn about the region.

The truth is computed here from the published columns (astropy for circles, numpy for
RA/Dec boxes, mocpy for regions that are only their tiles), as in
:mod:`tests.vo.test_exact_sample`, over the whole bundled sample and a small position
sample drawn near every region's edges, uniformly, and on RA 0/360 and the poles.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from mocpy import MOC

from catalog.importers import iter_paths, sample_paths
from catalog.notices.parsed import NoticeRecord
from catalog.service import import_files
from catalog.storage.events import CatalogStorage
from tests.vo.test_exact_sample import Shape, _csv, _inside, _positions, _upload
from vo.adql.translate import translate
from vo.errors import AdqlError

RNG_SEED = 1515
#: How many of the drawn positions are sent (the pole and RA-wrap ones always).
POSITIONS = 1500


def _shapes(client: TestClient, level: int) -> list[Shape]:
    """The published ``level`` % region of every alert that has one, from its columns."""
    out = []
    for row in _csv(client, f"SELECT name, ra, dec, shape{level}, r{level}, "
                            f"ra_err_plus_{level}, ra_err_minus_{level}, dec_err_plus_{level}, "
                            f"dec_err_minus_{level}, moc{level} FROM nufair.alerts "
                            f"WHERE moc{level} IS NOT NULL"):
        name, ra, dec, kind, r, plus, minus, dplus, dminus, moc = row
        box = None
        if kind == "box":
            box = (float(plus), float(minus), float(dplus), float(dminus))
        elif kind != "circle":
            kind = "moc"
        out.append(Shape(name, float(ra), float(dec), kind, float(r) if r else None, box,
                         MOC.from_string(moc, format="ascii") if kind == "moc" else None))
    return out


@pytest.fixture
def sample(storage: CatalogStorage, client: TestClient) -> TestClient:
    """The whole bundled sample imported, as ``nufair import`` does."""
    report = import_files(storage, list(iter_paths(sample_paths())))
    assert report.refused == []
    return client


def _sample_positions(shapes: list[Shape], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ra, dec = _positions(shapes, rng)
    keep = np.concatenate([rng.choice(len(ra) - 6, POSITIONS - 6, replace=False),
                           np.arange(len(ra) - 6, len(ra))])  # the last six: poles, RA 0
    return ra[keep], dec[keep]


def _uploaded_positions(sample: TestClient, level: int) -> None:
    """Joined on CONTAINS(POINT, region) and on INTERSECTS(region, POINT): the pairs of
    the independent computation, and the pairs of the moc predicate."""
    shapes = _shapes(sample, level)
    assert len(shapes) > (300 if level == 90 else 20)
    assert {s.kind for s in shapes} >= ({"circle", "box"} if level == 90 else {"circle"})
    ra, dec = _sample_positions(shapes, RNG_SEED + level)
    want = _inside(shapes, ra, dec)
    assert len(want) > 100
    upload = _upload(ra, dec)
    for on in (f"1 = CONTAINS(POINT('ICRS', u.ra, u.dec), a.region{level})",
               f"INTERSECTS(a.region{level}, POINT(u.ra, u.dec)) = 1",
               f"1 = CONTAINS(POINT('ICRS', u.ra, u.dec), a.moc{level})"):
        rows = _csv(sample, f"SELECT u.sid, a.name FROM TAP_UPLOAD.src AS u JOIN "
                            f"nufair.alerts AS a ON {on}", upload)
        assert {(int(s), n) for s, n in rows} == want, on
    # a correlated test per pair (not a join the tiles can serve)
    rows = _csv(sample, f"SELECT u.sid, a.name FROM TAP_UPLOAD.src AS u, nufair.alerts AS a "
                        f"WHERE (1 = CONTAINS(POINT(u.ra, u.dec), a.region{level}) "
                        f"OR a.ra < -1000) AND u.sid < 300", upload)
    assert {(int(s), n) for s, n in rows} == {(j, n) for j, n in want if j < 300}


def test_region_columns_answer_the_published_regions(sample: TestClient) -> None:
    """Uploaded positions in region90 and region50 (joined, flipped, correlated); a
    constant POINT (the issue's position outside IceCube-170717A's box among them); every
    revision's best fit against every alert's region: the independent answer each time."""
    for level in (90, 50):
        _uploaded_positions(sample, level)
    shapes = _shapes(sample, 90)
    by_name = {s.name: s for s in shapes}
    box = next(s for s in shapes if s.kind == "box")
    assert box.box is not None
    just_out = (box.ra + box.box[0] + 0.01) % 360.0
    for pra, pdec in ((210.1435, 25.16), (just_out, box.dec), (box.ra, box.dec),
                      (0.0, 90.0), (359.9999, -0.5)):
        names = {n for _, n in _inside(shapes, np.array([pra]), np.array([pdec]))}
        rows = _csv(sample, f"SELECT name FROM nufair.alerts WHERE "
                            f"1 = CONTAINS(POINT('ICRS', {pra!r}, {pdec!r}), region90)")
        assert {n for (n,) in rows} == names, (pra, pdec)
    assert box.name in {n for (n,) in _csv(
        sample, f"SELECT name FROM nufair.alerts WHERE 1 = CONTAINS(POINT('ICRS', "
                f"{box.ra!r}, {box.dec!r}), region90)")}
    if "IceCube-170717A" in by_name:  # the false match by the tiles
        assert "IceCube-170717A" not in {n for (n,) in _csv(
            sample, "SELECT name FROM nufair.alerts WHERE "
                    "1 = CONTAINS(POINT('ICRS', 210.1435, 25.16), region90)")}
    fits = _csv(sample, "SELECT revision_id, ra, dec FROM nufair.revisions")
    ids = np.array([int(r[0]) for r in fits])
    ra = np.array([float(r[1]) for r in fits])
    dec = np.array([float(r[2]) for r in fits])
    want = {(int(ids[j]), n) for j, n in _inside(shapes, ra, dec)}
    rows = _csv(sample, "SELECT r.revision_id, a.name FROM nufair.revisions AS r JOIN "
                        "nufair.alerts AS a ON 1 = CONTAINS(POINT(r.ra, r.dec), a.region90)")
    assert {(int(i), n) for i, n in rows} == want
    assert len(want) >= len(shapes)  # every alert's own best fit at least


def test_region_columns_meet_constant_shapes_only_and_say_so(
        client: TestClient, alerts: list[NoticeRecord]) -> None:
    """INTERSECTS(region90, MOC) is refused with the reason (a constant CIRCLE, POLYGON or
    BOX is exact: ``test_region_circle_exact``, ``test_region_polygon_exact``); TAP_SCHEMA
    states that the column encloses the region and that the predicates on it are exact."""
    r = client.post("/tap/sync", data={
        "LANG": "ADQL", "QUERY": "SELECT name FROM nufair.alerts WHERE 1 = INTERSECTS("
                                 "region90, MOC('4/1-7'))"})
    assert r.status_code == 400
    assert "meets a POINT; a constant CIRCLE, POLYGON or BOX" in r.text
    assert "Still refused: a region against a MOC" in r.text and "moc90" in r.text
    r = client.post("/tap/sync", data={
        "LANG": "ADQL", "QUERY": "SELECT name FROM nufair.alerts WHERE 1 = INTERSECTS("
                                 "POLYGON('ICRS', 10, 10, 12, 10, 11, 12), region90)"})
    assert r.status_code == 200, r.text[:400]
    rows = _csv(client, "SELECT column_name, description FROM TAP_SCHEMA.columns WHERE "
                        "table_name = 'nufair.alerts' AND column_name LIKE 'region%'")
    text = dict((c, d) for c, d in rows)
    assert set(text) == {"region50", "region90"}
    for level in (50, 90):
        assert "encloses" in text[f"region{level}"]
        assert f"CONTAINS(POINT(...), region{level})" in text[f"region{level}"]
        assert "exact" in text[f"region{level}"]
        assert f"INTERSECTS(CIRCLE(...), region{level})" in text[f"region{level}"]
        assert f"CONTAINS(CIRCLE(...), region{level})" in text[f"region{level}"]
        assert f"INTERSECTS(POLYGON(...), region{level})" in text[f"region{level}"]
        assert f"CONTAINS(region{level}, POLYGON(...))" in text[f"region{level}"]
        assert f"INTERSECTS(region{level}, region50)" in text[f"region{level}"]
        assert "uploaded table" in text[f"region{level}"]


@pytest.mark.parametrize("column", ["moc90", "region90", "region50"])
def test_region_columns_of_a_derived_table(column: str) -> None:
    """Through a subquery a MOC or region column is a plain value (its ranges, its
    polygon): selectable, and a predicate on it is refused with a message, not a crash."""
    inner = f"(SELECT name, {column} FROM nufair.alerts) AS s"
    assert translate(f"SELECT * FROM {inner}").columns[1].name == column
    with pytest.raises(AdqlError, match=r"CONTAINS\(POINT, VALUE\) is not supported"):
        translate(f"SELECT name FROM {inner} WHERE 1 = CONTAINS(POINT(10, 10), s.{column})")
