"""Simple Cone Search: the cone covering, the fast path in front of the router, the pool."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io.votable import parse_single_table
from sqlalchemy import create_engine, text

from catalog import sky
from catalog.notices.parsed import NoticeRecord
from nufair.app import make_engine
from vo.config import VoConfig
from vo.scs import search
from vo.storage import VoStorage


@pytest.mark.parametrize(("ra", "dec", "radius"), [
    (120.0, 10.0, 1.0), (0.1, 89.9, 2.0), (359.99, -45.0, 0.01), (10.0, 0.0, 30.0),
    (5.0, -89.95, 0.2), (200.0, 41.8, 0.0001)])
def test_cone_ranges_cover_the_cone(ra: float, dec: float, radius: float) -> None:
    """Every point inside the cone (astropy offsets) falls in one of its ranges."""
    rng = np.random.default_rng(11)
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    pts = centre.directional_offset_by(rng.uniform(0, 360, 3000) * u.deg,
                                       np.sqrt(rng.uniform(0, 1, 3000)) * radius * u.deg)
    hpx = sky.point_index(pts.ra.deg, pts.dec.deg).astype(np.uint64)
    ranges = sky.cone_ranges(ra, dec, radius)
    inside = np.zeros(len(hpx), dtype=bool)
    for lo, hi in ranges:
        inside |= (hpx >= lo) & (hpx < hi)
    assert inside.all()
    assert np.all(ranges[:-1, 1] < ranges[1:, 0])  # sorted, disjoint, merged


def test_sr_zero_finds_the_exact_position(engine: object, alerts: list[NoticeRecord]) -> None:
    """SR=0 finds the alert at exactly that position, and no other."""
    from sqlalchemy.engine import Engine

    assert isinstance(engine, Engine)
    vo = VoStorage(engine)
    first = alerts[0]
    body = search(vo, VoConfig(), {"RA": str(first.ra), "DEC": str(first.dec), "SR": "0"})
    table = parse_single_table(io.BytesIO(body)).array
    assert len(table) == 1
    assert float(table["ra"][0]) == first.ra
    body = search(vo, VoConfig(), {"RA": str(first.ra), "DEC": str((first.dec or 0) + 1e-9),
                                   "SR": "0"})
    assert len(parse_single_table(io.BytesIO(body)).array) == 0


def test_pool_replaces_a_connection_the_server_dropped(db_url: str,
                                                       alerts: list[NoticeRecord]) -> None:
    """The VO engine does not ping before each request; a connection killed while idle in
    the pool is replaced on first use and the request still succeeds."""
    engine = make_engine(db_url, pre_ping=False)
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        vo = VoStorage(engine)
        first = alerts[0]
        assert len(vo.cone(float(first.ra or 0), float(first.dec or 0), 1.0, ["name"], 10)[0]) == 1
        with admin.connect() as conn:
            killed = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        assert killed and killed >= 1
        rows, _ = vo.cone(float(first.ra or 0), float(first.dec or 0), 1.0, ["name"], 10)
        assert [r[0] for r in rows] == [first.name]
    finally:
        engine.dispose()
        admin.dispose()


def test_cone_search_over_http_is_counted_by_the_metrics(live_url: str,
                                                         alerts: list[NoticeRecord]) -> None:
    """The fast path answers /scs (errors in SCS shape) and the metrics count it."""
    first = alerts[0]
    r = httpx.get(live_url + "/scs", params={"RA": first.ra, "DEC": first.dec, "SR": 0.5,
                                             "VERB": 3})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-votable+xml")
    table = parse_single_table(io.BytesIO(r.content))
    assert table.array["name"][0] == first.name
    assert {f.ucd for f in table.fields} >= {"ID_MAIN", "POS_EQ_RA_MAIN", "POS_EQ_DEC_MAIN"}
    bad = httpx.get(live_url + "/scs", params={"RA": "x", "DEC": 1, "SR": 1})
    assert bad.status_code == 200 and 'name="Error"' in bad.text and "RA='x'" in bad.text
    metrics = httpx.get(live_url + "/metrics").text
    line = next(m for m in metrics.splitlines() if m.startswith("nufair_http_requests_total{")
                and 'route="/scs"' in m)
    assert float(line.rsplit(" ", 1)[1]) == 2.0
