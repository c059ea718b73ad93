"""``CONTAINS(POINT, moc90)`` answers the published region itself, not its MOC (issue 15).

The expectations are computed here, independently of the translator and of the catalog:
circles with astropy's ``SkyCoord.separation``, RA/Dec boxes with a numpy test written in
this file. The regions are the real IceCat-1 boxes of the bundled sample and circles placed
across RA 0 and near the poles; the positions are drawn near both sides of every boundary.
TAP (the sync endpoint, single positions and an uploaded list) must equal them, and equal
``GET /api/v1/regions/containing``.
"""

from __future__ import annotations

import csv
import io
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from fastapi.testclient import TestClient

from catalog.importers import sample_paths
from catalog.importers.icecat import read_icecat_csv
from catalog.notices.parsed import NoticeRecord
from catalog.storage.events import CatalogStorage
from tests.catalog.records_factory import record
from tests.vo.truth import inside_regions

RNG_SEED = 15

#: Circles (name, ra, dec, r90): across RA 0, near both poles, and a plain one.
CIRCLES = [("C-WRAP", 359.2, 12.0, 2.5), ("C-NORTH", 40.0, 88.0, 3.0),
           ("C-SOUTH", 200.0, -87.5, 1.7), ("C-PLAIN", 120.0, -30.0, 0.8)]


@pytest.fixture
def sample(storage: CatalogStorage) -> list[NoticeRecord]:
    """The IceCat-1 sample (boxes) and :data:`CIRCLES`, imported."""
    path = next(p for p in sample_paths() if p.name == "IceCube_Gold_Bronze_Tracks.csv")
    boxes = [r for r in read_icecat_csv(path.read_text()).records if r.region(0.9)]
    circles = [record(run=9000 + i, event=i, name=name, ra=ra, dec=dec, r90=r90)
               for i, (name, ra, dec, r90) in enumerate(CIRCLES)]
    storage.import_records(boxes + circles)
    return boxes + circles


def _near_boundaries(recs: list[NoticeRecord], per_region: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positions within a degree of each region's edges, on both sides."""
    ras, decs = [], []
    for rec in recs:
        region = rec.region(0.9)
        assert region is not None and rec.ra is not None and rec.dec is not None
        if region.is_circle:
            assert region.radius_deg is not None
            dist = region.radius_deg + rng.uniform(-1.0, 1.0, per_region)
            c = SkyCoord(rec.ra, rec.dec, unit="deg").directional_offset_by(
                rng.uniform(0, 360, per_region) * u.deg, np.abs(dist) * u.deg)
            ras.append(c.ra.deg)
            decs.append(c.dec.deg)
            continue
        assert region.ra_plus is not None and region.ra_minus is not None
        assert region.dec_plus is not None and region.dec_minus is not None
        lo_ra, hi_ra = rec.ra - region.ra_minus, rec.ra + region.ra_plus
        lo_dec, hi_dec = rec.dec - region.dec_minus, rec.dec + region.dec_plus
        side = rng.random(per_region) < 0.5
        jitter = rng.uniform(-1.0, 1.0, per_region)
        # half the points straddle an RA edge, half a Dec edge, anywhere along the edge
        near_ra = rng.random(per_region) < 0.5
        ra = np.where(near_ra, np.where(side, hi_ra, lo_ra) + jitter,
                      rng.uniform(lo_ra - 1.0, hi_ra + 1.0, per_region))
        dec = np.where(near_ra, rng.uniform(lo_dec - 0.5, hi_dec + 0.5, per_region),
                       np.where(side, hi_dec, lo_dec) + jitter)
        ras.append(np.mod(ra, 360.0))
        decs.append(np.clip(dec, -90.0, 90.0))
    return np.concatenate(ras), np.concatenate(decs)


def _tap_csv(client: TestClient, query: str, upload: bytes | None = None,
             ) -> list[list[str]]:
    """Rows of a sync TAP query (CSV), with ``upload`` as the table TAP_UPLOAD.src."""
    params = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv",
              "MAXREC": "1000000"}
    if upload is None:
        r = client.post("/tap/sync", data=params)
    else:
        params["UPLOAD"] = "src,param:src"
        r = client.post("/tap/sync", data=params, files={"src": ("src.xml", upload)})
    assert r.status_code == 200, r.text
    _header, *rows = csv.reader(io.StringIO(r.text, newline=""))
    return rows


def _tap_point(client: TestClient, ra: float, dec: float) -> set[str]:
    rows = _tap_csv(client, "SELECT name FROM nufair.alerts WHERE "
                            f"1 = CONTAINS(POINT('ICRS', {ra!r}, {dec!r}), moc90)")
    return {row[0] for row in rows}


def _rest_point(client: TestClient, ra: float, dec: float) -> set[str]:
    r = client.get("/api/v1/regions/containing", params={"ra": ra, "dec": dec})
    assert r.status_code == 200, r.text
    return {hit["name"] for hit in r.json()}


def test_issue_example_is_outside_icecube_170717a(client: TestClient,
                                                  sample: list[NoticeRecord]) -> None:
    """(210.1435, +25.16): inside IceCube-170717A's tiles, outside its box (edge 210.06)."""
    rec = next(r for r in sample if (r.name or "").endswith("170717A"))
    assert rec.name not in _tap_point(client, 210.1435, 25.16)
    assert rec.name not in _rest_point(client, 210.1435, 25.16)
    assert rec.name in _tap_point(client, 210.05, 25.16)
    rows = _tap_csv(client, "SELECT name FROM nufair.alerts WHERE 1 = INTERSECTS("
                            "moc90, POINT('ICRS', 210.1435, 25.16))")
    assert rec.name not in {row[0] for row in rows}


def test_single_points_equal_astropy_and_rest(client: TestClient,
                                              sample: list[NoticeRecord]) -> None:
    """Position by position near the boundaries: TAP = the independent answer = REST."""
    rng = np.random.default_rng(RNG_SEED)
    ra, dec = _near_boundaries(sample, 1, rng)
    pick = rng.choice(len(ra), size=min(150, len(ra)), replace=False)
    # and exactly on the edges of some boxes: both sides must compute the same floats
    edges = [(np.mod(r.ra + e.ra_plus, 360.0), r.dec + e.dec_plus - 0.001)
             for r in sample[:40:4] if (e := r.region(0.9)) is not None
             and r.ra is not None and r.dec is not None and e.ra_plus is not None
             and e.dec_plus is not None and not e.is_circle]
    edges += [(np.mod(r.ra, 360.0), min(r.dec + e.dec_plus, 90.0)) for r in sample[:40:4]
              if (e := r.region(0.9)) is not None and r.ra is not None
              and r.dec is not None and e.dec_plus is not None and not e.is_circle]
    ra = np.concatenate([ra[pick], [a for a, _ in edges]])
    dec = np.concatenate([dec[pick], [d for _, d in edges]])
    truth = inside_regions(sample, ra, dec)
    names = np.array([r.name for r in sample])
    for j, (a, d) in enumerate(zip(ra.tolist(), dec.tolist(), strict=True)):
        expected = set(names[truth[:, j]].tolist())
        assert _tap_point(client, a, d) == expected, (a, d)
        assert _rest_point(client, a, d) == expected, (a, d)


def test_uploaded_crossmatch_gives_the_exact_pairs(client: TestClient,
                                                   sample: list[NoticeRecord]) -> None:
    """A TAP_UPLOAD list against moc90: exactly the pairs of the independent answer."""
    rng = np.random.default_rng(RNG_SEED + 1)
    ra, dec = _near_boundaries(sample, 30, rng)
    # and anywhere on the sphere (RA 0 and the poles included), uniformly by area
    ra = np.concatenate([ra, rng.uniform(0, 360, 5000), [0.0, 359.999999, 0.5, 10.0]])
    dec = np.concatenate([dec, np.degrees(np.arcsin(rng.uniform(-1, 1, 5000))),
                          [88.0, 12.0, 90.0, -90.0]])
    sid = np.arange(len(ra))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Table({"sid": sid, "ra": ra, "dec": dec}).write(buf, format="votable",
                                                         tabledata_format="binary2")
    rows = _tap_csv(client, "SELECT u.sid, a.name FROM TAP_UPLOAD.src AS u JOIN "
                            "nufair.alerts AS a ON 1 = CONTAINS(POINT('ICRS', u.ra, u.dec), "
                            "a.moc90)", upload=buf.getvalue())
    got = {(int(s), n) for s, n in rows}
    truth = inside_regions(sample, ra, dec)
    expected = {(int(j), str(sample[i].name)) for i, j in zip(*np.nonzero(truth), strict=True)}
    assert len(ra) >= 10_000 and len(expected) > 1000
    assert got == expected
