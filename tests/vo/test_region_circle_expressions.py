"""A CIRCLE of arithmetic on an uploaded table's columns against a region column — the
error column in arcsec divided by 3600, single-precision columns, an expression in RA —
is exact over every revision of the bundled sample (:mod:`vo.adql.uploadcircles`).

The independent answer is :mod:`tests.vo.test_region_column_circles`'s numerical one
(astropy distances, box edges sampled and refined) for the circles that the expressions
give, computed here with numpy in the query's types. A pair whose margin is within
``TIE`` of 0 is a near tie: those are counted, must be rare, and are left out. The
per-row values that key the tile coverings are also checked bit for bit against
PostgreSQL's.
"""

from __future__ import annotations

import csv
import io
import warnings

import numpy as np
import pytest
from astropy.table import Table
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.vo.test_region_circle_exact import (
    RNG_SEED,
    Region,
    _circles,
    _inside_circles,
    _regions,
    circle_in_region_margin,
    circles_meeting_regions,
    tap_upload_pairs,
)
from vo import service
from vo.adql.scope import Expr
from vo.adql.uploadcircles import evaluate
from vo.adql.uploads import UploadColumn

#: A margin (degrees) this close to 0 is a near tie.
TIE = 1e-7

JOIN = ("SELECT s.k, a.revision_id FROM TAP_UPLOAD.src AS s JOIN nufair.revisions AS a "
        "ON 1 = {p}")


def _upload(circles: np.ndarray, rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """The circles as an upload of the columns the queries combine, and those columns."""
    n = len(circles)
    wrap = rng.integers(0, 2, n).astype(np.int16)
    cols = {"k": np.arange(n), "ra": circles[:, 0], "dec": circles[:, 1],
            "rs": circles[:, 0] + 360.0 * wrap, "wrap": wrap,
            "err": circles[:, 2] * 3600.0,  # arcsec, as VizieR gives them
            "err32": (circles[:, 2] * 3600.0).astype(np.float32),
            "f32": rng.uniform(0.9, 1.1, n).astype(np.float32),
            # milli-arcsec, the last three digits dropped by an integer division
            "mas": (np.floor(circles[:, 2] * 3600.0) * 1000 + 999).astype(np.int32)}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Table(cols).write(buf, format="votable", tabledata_format="binary2")
    return buf.getvalue(), cols


def _meets(circles: np.ndarray, regions: list[Region]
           ) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    """(pairs whose circle meets the region, near ties)."""
    return circles_meeting_regions(circles, regions, tie=TIE)


def _inside(circles: np.ndarray, regions: list[Region]
            ) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    """(pairs whose circle lies in the region, near ties)."""
    want, ties = set(), set()
    for k, (ra, dec, radius) in enumerate(circles):
        for reg in regions:
            margin = circle_in_region_margin(reg, ra, dec, radius)
            if margin is None:
                continue
            if abs(margin) <= TIE:
                ties.add((k, reg.name))
            elif margin > 0:
                want.add((k, reg.name))
    return want, ties


def _check(client: TestClient, predicate: str, upload: bytes,
           truth: tuple[set[tuple[int, str]], set[tuple[int, str]]]) -> None:
    want, ties = truth
    assert len(ties) <= max(3, len(want) // 200), sorted(ties)[:5]
    got = tap_upload_pairs(client, JOIN.format(p=predicate), upload) - ties
    assert got == want, (predicate, sorted(got ^ want)[:10])


def test_arcsec_radius_and_expressions_meet_regions(client: TestClient,
                                                    whole_sample: None) -> None:
    """INTERSECTS with the radius in arcsec divided by 3600 (either order, both levels);
    a single-precision column, alone and in single-precision arithmetic; RA and Dec as
    expressions; an integer division: each = the numerical answer for the circles the
    expressions give."""
    for level in (90, 50):
        regions = _regions(client, level)
        rng = np.random.default_rng(RNG_SEED + level)
        circles = _circles(regions, rng)
        upload, c = _upload(circles, rng)
        ra, dec = c["ra"], c["dec"]
        as_deg = np.stack([ra, dec, c["err"] / 3600.0], axis=1)
        truth = _meets(as_deg, regions)
        assert len(truth[0]) > 200
        circle = "CIRCLE('ICRS', s.ra, s.dec, s.err / 3600.0)"
        for p in (f"INTERSECTS({circle}, a.region{level})",
                  f"INTERSECTS(a.region{level}, {circle})"):
            _check(client, p, upload, truth)
        single = np.stack([ra, dec, c["err32"].astype(np.float64) / 3600.0], axis=1)
        _check(client, f"INTERSECTS(CIRCLE('ICRS', s.ra + 0.0, -(-s.dec), s.err32 / 3600.0), "
                       f"a.region{level})", upload, _meets(single, regions))
        product = (c["err32"] * c["f32"]).astype(np.float64) / 3600  # real * real: real
        shifted = np.stack([c["rs"] - 360 * c["wrap"].astype(np.int64), dec, product], axis=1)
        _check(client, f"INTERSECTS(a.region{level}, CIRCLE('ICRS', s.rs - 360 * s.wrap, "
                       f"(s.dec), (s.err32 * s.f32) / 3600))", upload,
               _meets(shifted, regions))
    whole = np.stack([ra, dec, (c["mas"] // 1000).astype(np.float64) / 3600.0], axis=1)
    _check(client, "INTERSECTS(CIRCLE('ICRS', s.ra, s.dec, s.mas / 1000 / 3600.0), "
                   "a.region50)", upload, _meets(whole, regions))


def test_arcsec_radius_in_regions(client: TestClient, whole_sample: None) -> None:
    """CONTAINS(CIRCLE of arcsec / 3600, region90 | region50) = the numerical answer."""
    for level in (90, 50):
        regions = _regions(client, level)
        rng = np.random.default_rng(RNG_SEED + 7 * level)
        circles = _inside_circles(regions, rng)
        upload, c = _upload(circles, rng)
        truth = _inside(np.stack([c["ra"], c["dec"], c["err"] / 3600.0], axis=1), regions)
        assert len(regions) // 3 < len(truth[0])
        _check(client, f"CONTAINS(CIRCLE('ICRS', s.ra * 1, s.dec, s.err / 3600.0), "
                       f"a.region{level})", upload, truth)


def test_values_are_postgresql_s(engine: Engine) -> None:
    """The per-row values that key the coverings equal PostgreSQL's bit for bit: real
    arithmetic in single precision, real with an integer in double, integer division
    truncating toward zero, unary minus."""
    rng = np.random.default_rng(RNG_SEED)
    n = 500
    r = rng.uniform(-1e4, 1e4, n).astype(np.float32)
    q = rng.uniform(0.5, 3, n).astype(np.float32)
    d = rng.uniform(-400, 400, n)
    i = rng.integers(-10_000, 10_000, n).astype(np.int32)
    h = rng.integers(-300, 300, n).astype(np.int16)
    h[h == 0] = 7
    cols: dict[str, tuple[str, np.ndarray, str]] = {
        "r": ("float", r, "real"), "q": ("float", q, "real"),
        "d": ("double", d, "double precision"), "i": ("int", i, "integer"),
        "h": ("short", h, "smallint")}
    upload = {f"s.{k}": ("s", UploadColumn(k, t, v, np.zeros(n, dtype=bool)))
              for k, (t, v, _pg) in cols.items()}
    leaf = {k: Expr(f"s.{k}") for k in cols}

    def num(v: float | int) -> Expr:
        return Expr(f"CAST({v!r} AS {'integer' if isinstance(v, int) else 'double precision'})",
                    const=v)

    def op(o: str, *a: Expr) -> Expr:
        sql = f"({o}{a[0].sql})" if len(a) == 1 else f"({a[0].sql} {o} {a[1].sql})"
        return Expr(sql, arith=(o, a))

    exprs = [op("/", leaf["r"], num(3600.0)), op("*", leaf["r"], leaf["q"]),
             op("+", op("*", leaf["r"], leaf["q"]), leaf["r"]), op("/", leaf["r"], leaf["q"]),
             op("*", leaf["r"], num(3)), op("/", leaf["i"], num(7)),
             op("/", leaf["i"], leaf["h"]), op("-", op("-", leaf["d"], leaf["r"])),
             op("/", op("-", leaf["i"]), op("*", leaf["h"], num(2.5))),
             op("-", leaf["d"], op("*", num(360), leaf["h"]))]
    unnest = ", ".join(f"CAST(:{k} AS {pg}[])" for k, (_t, _v, pg) in cols.items())
    params = {k: [v.item() for v in vals] for k, (_t, vals, _pg) in cols.items()}
    with engine.connect() as conn:
        for e in exprs:
            rows = conn.execute(text(f"SELECT CAST({e.sql} AS double precision) FROM "
                                     f"unnest({unnest}) AS s({', '.join(cols)})"),
                                params).scalars().all()
            mine = evaluate(e, upload, n).values.astype(np.float64)
            assert np.array_equal(np.array(rows, dtype=np.float64), mine), e.sql


def test_other_expressions_stay_refused(client: TestClient) -> None:
    """A function of the columns, a column of the alerts in the arithmetic, an integer
    past 64 bits: an ADQL error (400) that says what is accepted."""
    upload, _cols = _upload(np.array([[10.0, 20.0, 0.1]]), np.random.default_rng(RNG_SEED))
    for radius in ("SQRT(s.err) / 3600.0", "s.err / 3600.0 + a.r90",
                   "s.err / 99999999999999999999"):
        r = client.post("/tap/sync", data={
            "LANG": "ADQL", "RESPONSEFORMAT": "csv", "UPLOAD": "src,param:src",
            "QUERY": JOIN.format(p=f"INTERSECTS(CIRCLE('ICRS', s.ra, s.dec, {radius}), "
                                   "a.region90)")},
            files={"src": ("src.xml", upload)})
        assert r.status_code == 400, (radius, r.text[-400:])
        assert "out of range" in r.text or "arithmetic (+ - * /)" in r.text, r.text[-600:]


def test_bulk_upload_in_sky_order(client: TestClient, whole_sample: None,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An upload loaded in sky order (a bulk one, ``vo.service.BULK_TILES_PER_SOURCE``)
    keeps each row's number with the row: the coverings still key the right circles."""
    monkeypatch.setattr(service, "BULK_TILES_PER_SOURCE", 10**9)
    regions = _regions(client, 90)
    rng = np.random.default_rng(RNG_SEED + 90)
    upload, c = _upload(_circles(regions, rng), rng)
    truth = _meets(np.stack([c["ra"], c["dec"], c["err"] / 3600.0], axis=1), regions)
    _check(client, "INTERSECTS(CIRCLE('ICRS', s.ra, s.dec, s.err / 3600.0), a.region90)",
           upload, truth)


def test_constant_arithmetic_circles(client: TestClient, whole_sample: None) -> None:
    """A CIRCLE of constant arithmetic (a radius in arcsec over 3600, an integer
    division) is a constant circle: INTERSECTS with a region column = the numerical
    answer."""
    regions = _regions(client, 90)
    circles = _circles(regions, np.random.default_rng(RNG_SEED + 5))[::7]
    branches = []
    for k, (ra, dec, r) in enumerate(circles.tolist()):
        arcsec = r * 3600.0
        circle = f"CIRCLE('ICRS', {ra!r} + 0, {dec!r} * 1, {arcsec!r} / 3600.0 + 7 / 2 * 0)"
        branches.append(f"SELECT {k} AS k, revision_id FROM nufair.revisions "
                        f"WHERE 1 = INTERSECTS({circle}, region90)")
    radii = circles[:, 2] * 3600.0 / 3600.0
    truth = _meets(np.stack([circles[:, 0], circles[:, 1], radii], axis=1), regions)
    want, ties = truth
    assert len(want) > 20 and len(ties) <= 3
    r = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": " UNION ALL ".join(branches),
                                       "RESPONSEFORMAT": "csv", "MAXREC": "1000000"})
    assert r.status_code == 200, r.text[-800:]
    _header, *rows = csv.reader(io.StringIO(r.text, newline=""))
    got = {(int(k), n) for k, n in rows} - ties
    assert got == want, sorted(got ^ want)[:10]
