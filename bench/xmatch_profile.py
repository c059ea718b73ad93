"""Where the time of the upload cross-match goes (issue 15, fifth session).

One fresh database with ``--alerts`` synthetic alerts (``bench.vo.synthetic``), then, in
this process and without HTTP, ``--repeat`` times each stage of ``bench.vo``'s cross-match
of ``--sources`` uploaded sources: reading the VOTable (``vo.upload.read_votable``), the
temporary table (``vo.tapsession.begin_tap``), the query alone (EXPLAIN ANALYZE of the
translated SQL, TIMING OFF) and the whole answer in CSV (``TapService.execute``). ``--ab``
also times the whole answer fetched 200 rows at a time (as before the fifth session) and
2000 (``vo.resultstream.ENCODED_BATCH_ROWS``), alternating, in the same sitting.

Run: ``.venv/bin/python -m bench.xmatch_profile [--alerts 10000] [--sources 100000]
[--repeat 3] [--query moc|region] [--ab] [--explain] [--cprofile]``.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import psycopg
from astropy.table import Table
from sqlalchemy import text

from bench.common import fresh_database, import_in_batches, median
from bench.vo import XMATCH, XMATCH_REGION, synthetic
from catalog.storage.events import CatalogStorage
from nufair.app import make_engine
from vo import resultstream
from vo.adql.translate import translate
from vo.config import VoConfig
from vo.service import BULK_TILES_PER_SOURCE, TapService
from vo.storage import VoStorage
from vo.upload import read_votable


def upload_bytes(n: int, seed: int = 2) -> bytes:
    """``n`` random sources as a BINARY2 VOTable, as ``bench.vo`` sends them."""
    rng = np.random.default_rng(seed)
    src = Table({"id": np.arange(n), "ra": rng.uniform(0, 360, n),
                 "dec": np.degrees(np.arcsin(rng.uniform(-1, 1, n)))})
    buf = io.BytesIO()
    src.write(buf, format="votable", tabledata_format="binary2")
    return buf.getvalue()


def main() -> None:
    """Command line: print the median seconds of each stage."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=10_000)
    ap.add_argument("--sources", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--query", choices=("moc", "region"), default="moc")
    ap.add_argument("--ab", action="store_true",
                    help="time the whole answer with 200 (before) and 2000 rows a fetch "
                         "(ENCODED_BATCH_ROWS), alternating")
    ap.add_argument("--cprofile", action="store_true", help="profile one execute")
    ap.add_argument("--explain", action="store_true", help="print the plan once")
    args = ap.parse_args()
    query = XMATCH if args.query == "moc" else XMATCH_REGION
    data = upload_bytes(args.sources)
    with fresh_database() as url:
        engine = make_engine(url)
        storage = CatalogStorage(engine)
        recs = synthetic(args.alerts)
        import_in_batches(storage, recs)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        vo = VoStorage(engine, timeout_s=120)
        service = TapService(vo, VoConfig())
        times: dict[str, list[float]] = {"read": [], "load": [], "sql": [], "execute": []}
        if args.ab:
            times |= {"execute_200": [], "execute_2000": []}
        rows = 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            up = read_votable("src", data)
            times["read"].append(time.perf_counter() - t0)
            up.bulk = up.rows * BULK_TILES_PER_SOURCE > vo.tile_rows()
            tr = translate(query, [up], maxrec=2_000_000)
            sql, params = vo._driver_sql(tr)
            raw = engine.raw_connection()
            try:
                pg = raw.driver_connection
                assert isinstance(pg, psycopg.Connection)
                t0 = time.perf_counter()
                vo._begin_tap(pg, [up])
                times["load"].append(time.perf_counter() - t0)
                opts = "ANALYZE, TIMING OFF, FORMAT TEXT" if args.explain else \
                    "ANALYZE, TIMING OFF, FORMAT JSON"
                t0 = time.perf_counter()
                plan = pg.execute("EXPLAIN (" + opts + ") " + sql, params).fetchall()
                times["sql"].append(time.perf_counter() - t0)
                if args.explain:
                    print(sql)
                    print("\n".join(r[0] for r in plan))
                    args.explain = False
                pg.rollback()
            finally:
                raw.close()
            t0 = time.perf_counter()
            res = service.execute({"LANG": "ADQL", "QUERY": query, "UPLOAD": "src,param:src",
                                   "MAXREC": "2000000", "RESPONSEFORMAT": "csv"},
                                  {"src": data})
            times["execute"].append(time.perf_counter() - t0)
            rows = res.rows
            for size in (200, 2000) if args.ab else ():
                resultstream.ENCODED_BATCH_ROWS = size
                t0 = time.perf_counter()
                service.execute({"LANG": "ADQL", "QUERY": query, "UPLOAD": "src,param:src",
                                 "MAXREC": "2000000", "RESPONSEFORMAT": "csv"}, {"src": data})
                times[f"execute_{size}"].append(time.perf_counter() - t0)
            if args.cprofile:
                import cProfile
                import pstats
                prof = cProfile.Profile()
                prof.enable()
                service.execute({"LANG": "ADQL", "QUERY": query, "UPLOAD": "src,param:src",
                                 "MAXREC": "2000000", "RESPONSEFORMAT": "csv"}, {"src": data})
                prof.disable()
                pstats.Stats(prof).sort_stats("tottime").print_stats(15)
                args.cprofile = False
        engine.dispose()
    for k, v in times.items():
        print(f"{k:>8}: {median(v):.3f} s  ({', '.join(f'{x:.3f}' for x in v)})")
    print(f"    rows: {rows}")


if __name__ == "__main__":
    main()
