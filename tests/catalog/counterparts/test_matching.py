"""Counterpart candidates agree with an independent astropy / mocpy computation.

Every revision of the bundled sample with a region is matched against the whole 4FGL-DR4
table and compared, source by source and tier by tier, with :mod:`truth`; a scan-like
contour (a MOC AND its bounding box) is checked against mocpy.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import Latitude, Longitude, SkyCoord
from mocpy import MOC
from sqlalchemy import select
from sqlalchemy.engine import Engine, Row

from catalog.importers import iter_paths, sample_paths
from catalog.schema.counterparts import counterparts
from catalog.schema.events import events, revisions
from catalog.service import import_files
from catalog.storage.counterparts import CounterpartStore
from catalog.storage.events import CatalogStorage
from catalog.storage.revisions import RevisionStore
from tests.catalog.counterparts import truth

TXS = "4FGL J0509.4+0542"


@pytest.fixture(scope="module")
def sources() -> truth.Sources:
    return truth.fgl4()


@pytest.fixture
def sample(storage: CatalogStorage, engine: Engine) -> Engine:
    """The sample imported, and the candidates of every revision with a region computed."""
    report = import_files(storage, list(iter_paths(sample_paths())))
    assert report.refused == []
    with engine.begin() as conn:
        store = CounterpartStore(conn)
        ids = store.revisions_with_regions()
        summary = store.compute_for(ids)
    assert summary.revisions == len(ids) > 600
    return engine


def _region(r: Row[Any], level: int) -> truth.Region:
    row = r._mapping

    def num(col: str) -> float:
        return float("nan") if row[col] is None else float(row[col])

    return truth.Region(
        ra=row["ra"], dec=row["dec"], shape=row[f"region{level}_shape"],
        radius=num(f"r{level}_deg"), ra_plus=num(f"ra_err_plus_{level}"),
        ra_minus=num(f"ra_err_minus_{level}"), dec_plus=num(f"dec_err_plus_{level}"),
        dec_minus=num(f"dec_err_minus_{level}"))


def _stored(engine: Engine) -> dict[tuple[int, int], dict[str, tuple[str, float]]]:
    got: dict[tuple[int, int], dict[str, tuple[str, float]]] = defaultdict(dict)
    with engine.connect() as conn:
        for c in conn.execute(select(counterparts)):
            got[(c.revision_pk, c.level)][c.source_name] = (c.match, c.separation_deg)
    return got


def test_every_sample_region_agrees_with_astropy(sample: Engine,
                                                 sources: truth.Sources) -> None:
    got = _stored(sample)
    with sample.connect() as conn:
        revs = conn.execute(select(revisions).where(revisions.c.region90_shape.is_not(None)
                                                    | revisions.c.region50_shape.is_not(None)
                                                    )).all()
    checked = ellipse_only = 0
    for rev in revs:
        for level in (50, 90):
            region = _region(rev, level)
            if region.shape is None:
                continue
            want = truth.expected(sources, region)
            have = got.get((rev.id, level), {})
            assert {k: m for k, (m, _) in have.items()} == want, (rev.source_key, level)
            for name, (_, sep) in have.items():
                i = int(np.flatnonzero(sources.name == name)[0])
                exact = SkyCoord(rev.ra * u.deg, rev.dec * u.deg).separation(
                    SkyCoord(sources.ra[i] * u.deg, sources.dec[i] * u.deg)).deg
                assert sep == pytest.approx(exact, abs=1e-9)
            checked += 1
            ellipse_only += sum(m == "ellipse" for m in want.values())
    assert checked > 900
    assert ellipse_only > 10  # the second tier is exercised, not only the first


#: What Fermi-LAT follow-up circulars reported: (alert, 4FGL source, association, level,
#: the revision (GCN Rev) the circular answered, distance from its best fit, deg).
CIRCULARS = [
    ("IceCube-170922A", TXS, "TXS 0506+056", 50, 0, 0.09),
    ("IceCube-190730A", "4FGL J1504.4+1029", "PKS 1502+106", 50, 1, 0.31),
    ("IceCube-201114A", "4FGL J0658.6+0636", "NVSS J065844+063711", 90, 1, 0.81),
]


def _found(engine: Engine, name: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(
            select(revisions.c.number, revisions.c.source, counterparts.c.level,
                   counterparts.c.source_name, counterparts.c.match,
                   counterparts.c.association, counterparts.c.separation_deg)
            .join(events, events.c.id == revisions.c.event_pk)
            .join(counterparts, counterparts.c.revision_pk == revisions.c.id)
            .where(events.c.name == name)).all())


def test_txs_0506_056_is_listed_for_icecube_170922a(sample: Engine) -> None:
    txs = [r for r in _found(sample, "IceCube-170922A") if r.source_name == TXS]
    # the GCN notice (a 50 % circle) and IceCat-1 (a 90 % box) both hold it
    assert {(r.source, r.level) for r in txs} == {("gcn-amon", 50), ("icecat-1", 90)}
    assert all(r.match == "position" and r.association == "TXS 0506+056" for r in txs)
    for name, source, assoc, level, number, sep in CIRCULARS:
        rows = [r for r in _found(sample, name) if r.source_name == source
                and r.number == number and r.level == level and r.source == "gcn-amon"]
        assert len(rows) == 1, name
        assert rows[0].association == assoc and rows[0].match == "position"
        assert rows[0].separation_deg == pytest.approx(sep, abs=0.005)


def _contour_moc() -> MOC:
    """A pixelised, non-convex region near TXS 0506+056 (what a scan's contour is)."""
    lon = Longitude([74.0, 81.0, 81.0, 77.6, 77.6, 74.0] * u.deg)
    lat = Latitude([3.0, 3.0, 9.0, 9.0, 5.5, 5.5] * u.deg)
    return MOC.from_polygon(lon, lat, max_depth=9)


def test_a_contour_agrees_with_mocpy(storage: CatalogStorage, engine: Engine,
                                     sources: truth.Sources) -> None:
    report = import_files(storage, list(iter_paths(
        [p for p in sample_paths() if p.name == "IceCube_Gold_Bronze_Tracks.csv"])))
    assert report.refused == []
    moc = _contour_moc()
    with engine.begin() as conn:
        rev = conn.execute(select(revisions).join(events, events.c.id == revisions.c.event_pk)
                           .where(events.c.name == "IceCube-170922A")).first()
        assert rev is not None
        conn.execute(revisions.update().where(revisions.c.id == rev.id).values(
            ra_err_plus_90=4.0, ra_err_minus_90=3.5, dec_err_plus_90=3.3,
            dec_err_minus_90=2.8, region90_shape="box"))
        RevisionStore(conn).replace_region_tiles(
            rev.id, {90: (moc.to_depth29_ranges, float(moc.sky_fraction * 41252.96), 3.0)})
        CounterpartStore(conn).compute_for([rev.id])
        rev = conn.execute(select(revisions).where(revisions.c.id == rev.id)).one()
    region = _region(rev, 90)
    region = dataclasses.replace(region, moc=moc)
    want = truth.expected(sources, region)
    have = _stored(engine)[(rev.id, 90)]
    assert {k: m for k, (m, _) in have.items()} == want
    assert len(want) >= 3 and TXS not in want  # the notch leaves TXS 0506+056 out
