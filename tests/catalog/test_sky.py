"""The SQL sky geometry (``catalog.sky.sql``) against independent answers.

The great-circle distance, run on PostgreSQL, is held to astropy's ``SkyCoord.separation``
(the Vincenty form in numpy) on random pairs and on the pairs where distance formulas break:
the poles, RA wrap-around, antipodes and nearly coincident points. The point and tile
comparators are held to healpy and to numpy on the same indices.
"""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from numpy.typing import NDArray
from sqlalchemy import BigInteger, Double, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine

from catalog import sky

RNG_SEED = 20261203

#: Largest disagreement with astropy allowed, in degrees (~0.04 µas; measured 7e-14). The
#: plain haversine (``asin`` of a square root) is off by 1.7e-6 deg next to antipodes.
TOLERANCE_DEG = 1e-11

Pairs = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
              NDArray[np.float64]]


def _uniform(n: int, rng: np.random.Generator) -> tuple[NDArray[np.float64], ...]:
    return rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))


def _pairs() -> Pairs:
    """Random pairs, then pairs at the poles, across RA 0, antipodal and nearly equal."""
    rng = np.random.default_rng(RNG_SEED)
    ra1, dec1 = _uniform(300, rng)
    ra2, dec2 = _uniform(300, rng)
    n = 40
    pole_ra, pole_dec = rng.uniform(0, 360, n), np.where(rng.uniform(size=n) < 0.5, 90.0, -90.0)
    near_pole = pole_dec - np.sign(pole_dec) * rng.uniform(0, 1e-3, n)
    wrap_ra = rng.uniform(359.9, 360.0, n)
    wrap_dec = rng.uniform(-89, 89, n)
    anti_ra, anti_dec = _uniform(n, rng)
    tiny = 10 ** rng.uniform(-10, -4, n)
    extra = {
        "poles": (pole_ra, pole_dec, rng.uniform(0, 360, n), near_pole),
        "pole to pole": (pole_ra, pole_dec, pole_ra + 90.0, -pole_dec),
        "ra wrap": (wrap_ra, wrap_dec, rng.uniform(0, 0.1, n), wrap_dec + rng.normal(0, 0.01, n)),
        "antipodes": (anti_ra, anti_dec, (anti_ra + 180.0) % 360.0, -anti_dec),
        "near antipodes": (anti_ra, anti_dec, (anti_ra + 180.0 + tiny) % 360.0,
                           np.clip(-anti_dec + tiny, -90, 90)),
        "coincident": (anti_ra, anti_dec, anti_ra, anti_dec),
        "nearly coincident": (anti_ra, anti_dec, anti_ra + tiny, anti_dec - tiny),
    }
    cols = [np.concatenate([c, *(e[i] for e in extra.values())])
            for i, c in enumerate((ra1, dec1, ra2, dec2))]
    return cols[0], cols[1], cols[2], cols[3]


def _astropy_deg(pairs: Pairs) -> NDArray[np.float64]:
    ra1, dec1, ra2, dec2 = pairs
    a = SkyCoord(ra1 * u.deg, dec1 * u.deg)
    b = SkyCoord(ra2 * u.deg, dec2 * u.deg)
    return np.asarray(a.separation(b).deg, dtype=np.float64)


def _params(pairs: Pairs) -> dict[str, list[float]]:
    return {k: v.tolist() for k, v in zip(("ra1", "dec1", "ra2", "dec2"), pairs, strict=True)}


def test_great_circle_core_matches_astropy(engine: Engine) -> None:
    """The Core expression (catalog storage) agrees with astropy on every pair."""
    pairs = _pairs()
    arrays = [bindparam(k, type_=ARRAY(Double)) for k in ("ra1", "dec1", "ra2", "dec2")]
    rows = func.unnest(*arrays).table_valued("ra1", "dec1", "ra2", "dec2",
                                             with_ordinality="n").render_derived(name="u")
    dist = sky.great_circle_deg(rows.c.ra1, rows.c.dec1, rows.c.ra2, rows.c.dec2)
    with engine.connect() as conn:
        got = conn.execute(select(dist).order_by(rows.c.n), _params(pairs)).scalars().all()
    want = _astropy_deg(pairs)
    err = np.abs(np.array(got) - want)
    assert err.max() < TOLERANCE_DEG, f"worst pair {int(err.argmax())}: {err.max():.3g} deg"


def test_great_circle_text_matches_astropy(engine: Engine) -> None:
    """The SQL-text form (ADQL, cone search) is the same expression as the Core one."""
    pairs = _pairs()
    dist = sky.great_circle_sql("u.ra1", "u.dec1", "u.ra2", "u.dec2")
    sql = text(f"SELECT {dist} FROM unnest(CAST(:ra1 AS float8[]), CAST(:dec1 AS float8[]), "
               "CAST(:ra2 AS float8[]), CAST(:dec2 AS float8[])) WITH ORDINALITY "
               "AS u(ra1, dec1, ra2, dec2, n) ORDER BY u.n")
    with engine.connect() as conn:
        got = conn.execute(sql, _params(pairs)).scalars().all()
    assert np.abs(np.array(got) - _astropy_deg(pairs)).max() < TOLERANCE_DEG


def test_great_circle_of_integer_arguments(engine: Engine) -> None:
    """Integer columns and constants are not divided as integers."""
    dist = sky.great_circle_sql("CAST(:a AS integer)", "CAST(:b AS integer)",
                                "CAST(:c AS integer)", "CAST(:d AS integer)")
    with engine.connect() as conn:
        got = conn.execute(text(f"SELECT {dist}"), {"a": 10, "b": 20, "c": 11, "d": 21}).scalar()
    want = SkyCoord(10 * u.deg, 20 * u.deg).separation(SkyCoord(11 * u.deg, 21 * u.deg)).deg
    assert got == pytest.approx(want, abs=TOLERANCE_DEG)


def test_point_and_tile_comparators_match_healpy(engine: Engine) -> None:
    """in_ranges, within, Tile.contains and cell() agree with numpy bounds and healpy."""
    rng = np.random.default_rng(RNG_SEED + 1)
    ra, dec = _uniform(2000, rng)
    ipix = sky.point_index(ra, dec)
    ranges = sky.cone_ranges(30.0, -20.0, 15.0)
    lo, hi = (int(x) for x in ranges[len(ranges) // 2])
    points = func.unnest(bindparam("ipix", type_=ARRAY(BigInteger))).table_valued(
        "ipix", with_ordinality="n").render_derived(name="p")
    p = sky.point(points.c.ipix)
    tile = sky.tile(func.int8range(lo, hi))
    stmt = select(p.in_ranges(ranges), p.within(func.int8range(lo, hi)),
                  tile.contains(points.c.ipix), p.cell(6)).order_by(points.c.n)
    with engine.connect() as conn:
        rows = conn.execute(stmt, {"ipix": ipix.tolist()}).all()
        one = conn.execute(select(tile.contains(lo), tile.contains(hi))).one()
    in_ranges, within, contains, cell = (np.array(c) for c in zip(*rows, strict=True))
    u64 = ipix.astype(np.uint64)
    want_ranges = np.any((u64[:, None] >= ranges[:, 0]) & (u64[:, None] < ranges[:, 1]), axis=1)
    assert np.array_equal(in_ranges, want_ranges)
    assert np.array_equal(within, (ipix >= lo) & (ipix < hi))
    assert np.array_equal(contains, within)
    assert np.array_equal(cell, hp.ang2pix(2**6, ra, dec, nest=True, lonlat=True))
    assert tuple(one) == (True, False)
    assert want_ranges.any()
