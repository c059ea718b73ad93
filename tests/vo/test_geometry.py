"""Translated ADQL geometry agrees with independent healpy / mocpy / astropy answers."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import Latitude, Longitude, SkyCoord
from mocpy import MOC
from sqlalchemy import text
from sqlalchemy.engine import Engine

from catalog.notices.parsed import NoticeRecord
from catalog.sky import region_geometry
from catalog.storage.events import CatalogStorage
from tests.catalog.records_factory import record
from vo.adql.translate import translate
from vo.storage import VoStorage

RNG_SEED = 20240611


def _points(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    return ra, dec


@pytest.fixture
def scattered(storage: CatalogStorage) -> list[NoticeRecord]:
    """400 alerts without regions, spread over a patch of sky (and a few anywhere)."""
    rng = np.random.default_rng(RNG_SEED)
    ra = np.concatenate([rng.uniform(40, 60, 350), _points(50, rng)[0]])
    dec = np.concatenate([rng.uniform(-10, 10, 350), _points(50, rng)[1]])
    recs = [record(run=5000 + i, event=i, ra=float(a), dec=float(d), r90=None,
                   name=f"T{i:04d}") for i, (a, d) in enumerate(zip(ra, dec, strict=True))]
    storage.import_records(recs)
    return recs


def _names(vo: VoStorage, query: str) -> set[str]:
    tr = translate(query, maxrec=100000)
    return {row[0] for row in vo.run(tr, 100000).rows}


def test_hpx29_sql_function_matches_healpy(engine: Engine) -> None:
    """The SQL order-29 index of a position is healpy's."""
    ra, dec = _points(5000, np.random.default_rng(RNG_SEED))
    with engine.connect() as conn:
        got = conn.execute(text("SELECT nufair.hpx29(a, d) FROM unnest(CAST(:ra AS float8[]), "
                                "CAST(:dec AS float8[])) AS u(a, d)"),
                           {"ra": ra.tolist(), "dec": dec.tolist()}).scalars().all()
    assert np.array_equal(np.array(got), hp.ang2pix(2**29, ra, dec, nest=True, lonlat=True))


def test_cone_contains_matches_astropy(engine: Engine, scattered: list[NoticeRecord]) -> None:
    """CONTAINS(POINT, CIRCLE) finds what astropy's separations find."""
    vo = VoStorage(engine)
    rng = np.random.default_rng(RNG_SEED + 1)
    coords = SkyCoord([r.ra for r in scattered] * u.deg, [r.dec for r in scattered] * u.deg)
    names = np.array([r.name for r in scattered])
    for _ in range(8):
        ra0, dec0, radius = (float(x) for x in (rng.uniform(42, 58), rng.uniform(-8, 8),
                                                rng.uniform(0.2, 6)))
        got = _names(vo, f"SELECT name FROM nufair.alerts WHERE 1 = CONTAINS(POINT('ICRS', ra, "
                         f"dec), CIRCLE('ICRS', {ra0!r}, {dec0!r}, {radius!r}))")
        sep = coords.separation(SkyCoord(ra0 * u.deg, dec0 * u.deg)).deg
        assert got == set(names[sep <= radius])
        dist = _names(vo, f"SELECT name FROM nufair.alerts WHERE DISTANCE(ra, dec, {ra0!r}, "
                          f"{dec0!r}) < {radius!r}")
        assert dist == set(names[sep < radius])


def test_polygon_contains_matches_mocpy(engine: Engine, scattered: list[NoticeRecord]) -> None:
    """CONTAINS(POINT, POLYGON) finds what mocpy's polygon contains."""
    vo = VoStorage(engine)
    ra = np.array([r.ra for r in scattered])
    dec = np.array([r.dec for r in scattered])
    names = np.array([r.name for r in scattered])
    for verts in ([(44, -5), (55, -6), (57, 4), (47, 7)], [(50, 0), (52, 0), (51, 3)]):
        flat = ", ".join(str(float(x)) for v in verts for x in v)
        got = _names(vo, f"SELECT name FROM nufair.alerts WHERE "
                         f"1 = CONTAINS(POINT(ra, dec), POLYGON({flat}))")
        moc = MOC.from_polygon(Longitude([v[0] for v in verts] * u.deg),
                               Latitude([v[1] for v in verts] * u.deg), max_depth=18)
        inside = moc.contains_lonlat(ra * u.deg, dec * u.deg)
        assert got == set(names[inside])
        assert got  # the polygons were placed where the points are


@pytest.fixture
def regions(storage: CatalogStorage) -> list[NoticeRecord]:
    """Alerts with 90 % regions, circles and boxes, scattered on a patch of sky."""
    rng = np.random.default_rng(RNG_SEED + 2)
    recs = []
    for i in range(30):
        ra, dec = float(rng.uniform(100, 140)), float(rng.uniform(-20, 20))
        if i % 3 == 0:
            rp, rm, dp, dm = (float(x) for x in rng.uniform(0.5, 4, 4))
            box = (rp, rm, dp, dm)
            recs.append(record(run=7000 + i, event=i, ra=ra, dec=dec, r90=None, box90=box,
                               name=f"R{i:02d}"))
        else:
            recs.append(record(run=7000 + i, event=i, ra=ra, dec=dec,
                               r90=float(rng.uniform(0.3, 5)), name=f"R{i:02d}"))
    storage.import_records(recs)
    return recs


def _region_moc(rec: NoticeRecord) -> MOC:
    """The MOC mocpy builds from the record's own shape (independent of the stored tiles)."""
    region = rec.region(0.9)
    assert region is not None and rec.ra is not None and rec.dec is not None
    order = region_geometry(rec.ra, rec.dec, region).order
    if region.is_circle:
        return MOC.from_cone(Longitude(rec.ra * u.deg), Latitude(rec.dec * u.deg),
                             radius=region.radius_deg * u.deg, max_depth=order)
    assert region.ra_plus is not None and region.ra_minus is not None
    assert region.dec_plus is not None and region.dec_minus is not None
    corners = SkyCoord([[rec.ra - region.ra_minus, rec.dec - region.dec_minus],
                        [rec.ra + region.ra_plus, rec.dec + region.dec_plus]], unit="deg")
    return MOC.from_zone(corners, max_depth=order)


def _in_shape(rec: NoticeRecord, ra: float, dec: float) -> bool:
    """Whether the record's own 90 % circle (astropy) or RA/Dec box holds (ra, dec)."""
    region = rec.region(0.9)
    assert region is not None and rec.ra is not None and rec.dec is not None
    if region.is_circle:
        sep = SkyCoord(rec.ra, rec.dec, unit="deg").separation(SkyCoord(ra, dec, unit="deg"))
        return bool(sep.deg <= region.radius_deg)
    assert region.ra_plus is not None and region.ra_minus is not None
    assert region.dec_plus is not None and region.dec_minus is not None
    offset = (ra - rec.ra + 180.0) % 360.0 - 180.0
    return (rec.dec - region.dec_minus <= dec <= rec.dec + region.dec_plus
            and -region.ra_minus <= offset <= region.ra_plus)


def test_point_in_moc_matches_mocpy(engine: Engine, regions: list[NoticeRecord]) -> None:
    """CONTAINS(POINT, moc90) finds the regions whose mocpy tiles and exact shape hold the
    point: the MOC is the index, the region is the answer (issue 15)."""
    vo = VoStorage(engine)
    mocs = {r.name: _region_moc(r) for r in regions}
    rng = np.random.default_rng(RNG_SEED + 3)
    for ra, dec in zip(rng.uniform(100, 140, 40).tolist(), rng.uniform(-20, 20, 40).tolist(),
                       strict=True):
        got = _names(vo, f"SELECT name FROM nufair.alerts "
                         f"WHERE 1 = CONTAINS(POINT('ICRS', {ra!r}, {dec!r}), moc90)")
        by_name = {r.name: r for r in regions}
        expected = {n for n, m in mocs.items()
                    if m.contains_lonlat(ra * u.deg, dec * u.deg)[0]
                    and _in_shape(by_name[n], ra, dec)}
        assert got == expected


def test_circle_intersects_moc_matches_mocpy(engine: Engine,
                                             regions: list[NoticeRecord]) -> None:
    """INTERSECTS(CIRCLE, moc90) finds the regions mocpy says the circle meets."""
    vo = VoStorage(engine)
    mocs = {r.name: _region_moc(r) for r in regions}
    rng = np.random.default_rng(RNG_SEED + 4)
    for _ in range(10):
        ra, dec, radius = (float(x) for x in (rng.uniform(100, 140), rng.uniform(-20, 20),
                                              rng.uniform(0.5, 3)))
        got = _names(vo, f"SELECT name FROM nufair.alerts WHERE "
                         f"1 = INTERSECTS(CIRCLE({ra!r}, {dec!r}, {radius!r}), moc90)")
        # The circle is tiled three orders finer than a pre-filter would be.
        from catalog.sky import tile_order

        cone = MOC.from_cone(Longitude(ra * u.deg), Latitude(dec * u.deg),
                             radius=radius * u.deg, max_depth=min(tile_order(radius) + 3, 29))
        expected = {n for n, m in mocs.items() if not m.intersection(cone).empty()}
        assert got == expected


def test_moc_depth_is_the_coarsest_order_mocpy_keeps() -> None:
    """The order ``ascii_moc`` writes a stored MOC at is the deepest cell order mocpy itself
    finds in it: built from cells of known orders, written, re-read, the same cells."""
    from vo.adql.geometry import ascii_moc, moc_max_depth

    rng = np.random.default_rng(12)
    for _ in range(200):
        orders = rng.integers(0, 12, size=rng.integers(1, 6))
        cells = [(int(o), int(rng.integers(0, 12 * 4 ** int(o)))) for o in orders]
        moc = MOC.from_healpix_cells(np.array([c for _, c in cells], dtype=np.uint64),
                                     np.array([o for o, _ in cells], dtype=np.uint8),
                                     max_depth=29)
        ranges = moc.to_depth29_ranges.tolist()
        # mocpy's own serialisation lists its cells by order ("3/145 11/9024032 ... 29/"):
        # the deepest order that has cells is the depth.
        listed = moc.to_string(format="ascii", fold=0).split()
        deepest = max(int(tok.split("/")[0]) for tok in listed
                      if "/" in tok and tok.split("/")[1] != "")
        assert moc_max_depth(ranges) == deepest
        text = ascii_moc(ranges)
        assert text is not None
        again = MOC.from_string(text, format="ascii")
        assert np.array_equal(again.to_depth29_ranges, moc.to_depth29_ranges)
