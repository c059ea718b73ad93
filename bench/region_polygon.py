"""Database time of the exact POLYGON/BOX/CIRCLE predicates on region columns (issue 15).

One fresh database (``NUFAIR_BENCH_DATABASE_URL``, else embedded) with ``--alerts``
synthetic alerts, uniform over the sky, half with circular 50 %/90 % regions and half with
RA/Dec boxes (the two shapes of the IceCat-1 sample), vacuumed and analysed as autovacuum
leaves a live server. For each predicate, ``--repeat`` random shapes (centres uniform in
RA and in Dec within ±60 degrees; polygons of 3 to 6 vertices and BOXes, 0.5 to 6 degrees
across; circles for ``CONTAINS(region90, CIRCLE)`` of radius 1 to 10 degrees) are
translated as the TAP service translates them and run with ``EXPLAIN (ANALYZE, TIMING
OFF)``: the median execution and planning times, and the median rows.

1. ``INTERSECTS(POLYGON, region90)`` (the other order is the same SQL);
2. ``INTERSECTS(BOX, region90)``;
3. ``CONTAINS(POLYGON, region90)`` (the polygon lies in the region);
4. ``CONTAINS(region90, POLYGON)`` (the region lies in the polygon);
5. ``CONTAINS(region90, CIRCLE)``.

Run: ``.venv/bin/python -m bench.region_polygon [--alerts 10000] [--repeat 30]
[--out region_polygon]``.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.common import fresh_database, import_in_batches, median, write_result
from catalog.notices.parsed import ErrorRegion, NoticeRecord, RevisionKind, Source, Stream
from catalog.storage.events import CatalogStorage
from nufair.app import make_engine
from vo.adql.translate import translate

#: The predicates measured, with ``{s}`` for the shape (a POLYGON, a BOX or a CIRCLE).
PREDICATES = {
    "intersects_polygon": ("polygon", "INTERSECTS({s}, region90)"),
    "intersects_box": ("box", "INTERSECTS({s}, region90)"),
    "polygon_in_region": ("polygon", "CONTAINS({s}, region90)"),
    "region_in_polygon": ("polygon", "CONTAINS(region90, {s})"),
    "region_in_circle": ("circle", "CONTAINS(region90, {s})"),
}


def synthetic(n: int, seed: int = 15) -> list[NoticeRecord]:
    """``n`` synthetic Gold alerts, seeded, uniform on the sky; even ones with circles of
    radius 0.3 to 5 degrees (90 %), odd ones with RA/Dec boxes of half-widths 0.2 to 4."""
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    t0 = datetime(2019, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        if i % 2 == 0:
            r90 = float(rng.uniform(0.3, 5.0))
            regions = (ErrorRegion(0.5, radius_deg=r90 / 2), ErrorRegion(0.9, radius_deg=r90))
        else:
            e = [float(x) for x in rng.uniform(0.2, 4.0, 4)]
            regions = (ErrorRegion(0.5, None, *(x / 2 for x in e)),
                       ErrorRegion(0.9, None, *e))
        out.append(NoticeRecord(
            observatory="IceCube", run_id=910000 + i, event_id=i, name=f"IceCube-RPB{i:06d}",
            stream=Stream.GOLD, event_time=t0 + timedelta(hours=i),
            kind=RevisionKind.INITIAL, source=Source.GCN_JSON, source_rev=0,
            source_key=f"bench-rp:{i}", ra=float(ra[i]), dec=float(dec[i]), regions=regions,
            energy_tev=100.0, signalness=0.5))
    return out


def shape(kind: str, rng: np.random.Generator) -> str:
    """A random ADQL shape of ``kind`` (polygon, box or circle)."""
    ra, dec = float(rng.uniform(0, 360)), float(rng.uniform(-60, 60))
    if kind == "circle":
        return f"CIRCLE('ICRS', {ra!r}, {dec!r}, {float(rng.uniform(1, 10))!r})"
    size = float(rng.uniform(0.5, 6.0))
    if kind == "box":
        return f"BOX('ICRS', {ra!r}, {dec!r}, {size!r}, {size * float(rng.uniform(0.5, 1.5))!r})"
    k = int(rng.integers(3, 7))
    angles = (np.arange(k) + rng.uniform(-0.3, 0.3, k)) * 2 * np.pi / k
    half = size / 2
    words = ", ".join(f"{float(ra + half * np.cos(a) / np.cos(np.radians(dec))) % 360.0!r}, "
                      f"{float(dec + half * np.sin(a))!r}" for a in angles)
    return f"POLYGON('ICRS', {words})"


def db_ms(engine: Engine, query: str, kind: str, repeat: int,
          rng: np.random.Generator) -> dict[str, Any]:
    """Median execution and planning milliseconds and rows of ``query`` over ``repeat``
    random shapes (the first, which warms the caches, left out)."""
    run: list[float] = []
    plan: list[float] = []
    rows: list[float] = []
    with engine.connect() as conn:
        for _ in range(repeat + 1):
            adql = f"SELECT name FROM nufair.alerts WHERE 1 = {query.format(s=shape(kind, rng))}"
            tr = translate(adql, maxrec=10_000)
            out = conn.execute(text("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + tr.sql),
                               tr.params).scalar_one()
            run.append(out[0]["Execution Time"])
            plan.append(out[0]["Planning Time"])
            rows.append(float(out[0]["Plan"]["Actual Rows"]))
    return {"db_ms": median(run[1:]), "plan_ms": median(plan[1:]), "rows": median(rows[1:])}


def main() -> None:
    """Command line: import ``--alerts`` synthetic alerts, time each predicate, print and
    write the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--out", default="region_polygon",
                    help="result name: bench/results/<out>.json")
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    rng = np.random.default_rng(16)
    with fresh_database() as url:
        engine = make_engine(url)
        try:
            t0 = time.perf_counter()
            storage = CatalogStorage(engine)
            recs = synthetic(args.alerts)
            import_in_batches(storage, recs)
            print(f"imported {args.alerts} alerts in {time.perf_counter() - t0:.1f} s")
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
            out = {name: db_ms(engine, query, kind, args.repeat, rng)
                   for name, (kind, query) in PREDICATES.items()}
        finally:
            engine.dispose()
    for name, figures in out.items():
        print(f"{name:>20}: {figures['db_ms']:.3f} ms in the database, "
              f"{figures['plan_ms']:.3f} ms planning, {figures['rows']:.0f} rows (medians)")
    write_result(args.out, {"alerts": args.alerts, "repeat": args.repeat, **out,
                            "loadavg_1min_at_start": load_start})


if __name__ == "__main__":
    main()
