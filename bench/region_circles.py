"""Wall time of an uploaded source list with error radii against the exact regions, and of
the regions' self-join (issue 15).

One fresh database (``NUFAIR_BENCH_DATABASE_URL``, else embedded) with ``--alerts``
synthetic alerts (:func:`bench.region_polygon.synthetic`: half circles, half RA/Dec boxes,
uniform over the sky), vacuumed and analysed, or with the bundled sample (``--alerts 0``).
The real app in its own process; over HTTP, the median of ``--repeat`` sync queries:

1. ``--sources`` uploaded sources (uniform, error radii 0.01 to 1 degree, log-uniform)
   joined on ``1 = INTERSECTS(CIRCLE('ICRS', s.ra, s.dec, s.err), a.region90)``;
2. the same with ``CONTAINS(CIRCLE(...), a.region90)``;
3. (for reference) the upload alone, ``SELECT count(*) FROM TAP_UPLOAD.src``;
4. the INTERSECTS join with the radius given in arcsec (``s.err_arcsec / 3600.0``);
5. ``INTERSECTS(a.region90, b.region90)`` and ``CONTAINS(a.region50, b.region90)``, every
   pair of current alerts (only with ``--self-join``).

Run: ``.venv/bin/python -m bench.region_circles [--alerts 10000] [--sources 1000]
[--repeat 5] [--self-join] [--out region_circles]``.
"""

from __future__ import annotations

import argparse
import io
import os
import time
import warnings

import httpx
import numpy as np
from astropy.table import Table
from sqlalchemy import text

from bench.common import fresh_database, import_in_batches, median, write_result
from bench.region_polygon import synthetic
from bench.server import serve
from catalog.storage.events import CatalogStorage
from nufair.app import make_engine

JOIN = ("SELECT s.id, a.name FROM TAP_UPLOAD.src AS s JOIN nufair.alerts AS a ON "
        "1 = {p}(CIRCLE('ICRS', s.ra, s.dec, s.err), a.region90)")
#: The same join with the radius in arcsec, as VizieR gives error columns.
ARCSEC = ("SELECT s.id, a.name FROM TAP_UPLOAD.src AS s JOIN nufair.alerts AS a ON "
          "1 = INTERSECTS(CIRCLE('ICRS', s.ra, s.dec, s.err_arcsec / 3600.0), a.region90)")
SELF = ("SELECT a.name, b.name FROM nufair.alerts AS a JOIN nufair.alerts AS b ON "
        "1 = {p}(a.region{level}, b.region90)")


def sources(n: int, rng: np.random.Generator) -> bytes:
    """A VOTable of ``n`` sources with error radii."""
    table = Table({"id": np.arange(n), "ra": rng.uniform(0, 360, n),
                   "dec": np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
                   "err": 10 ** rng.uniform(-2, 0, n)})
    table["err_arcsec"] = table["err"] * 3600.0
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.write(buf, format="votable", tabledata_format="binary2")
    return buf.getvalue()


def timed_query(client: httpx.Client, base: str, query: str, upload: bytes | None,
                repeat: int) -> tuple[float, int]:
    """Median milliseconds of the sync query over ``repeat`` runs (after one to warm),
    and its rows."""
    walls = []
    rows = 0
    for _ in range(repeat + 1):
        data = {"LANG": "ADQL", "QUERY": query, "MAXREC": "10000000", "RESPONSEFORMAT": "csv"}
        files = None
        if upload is not None:
            data["UPLOAD"] = "src,param:src"
            files = {"src": ("src.xml", upload, "application/x-votable+xml")}
        t0 = time.perf_counter()
        r = client.post(base + "/tap/sync", data=data, files=files)
        walls.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"query failed: {r.text[-600:]}")
        rows = r.text.count("\n") - 1
    return median(walls[1:]), rows


def main() -> None:
    """Command line: load the alerts, time the queries, print and write the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=10_000, help="0: the bundled sample")
    ap.add_argument("--sources", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--self-join", action="store_true")
    ap.add_argument("--out", default="region_circles")
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    upload = sources(args.sources, np.random.default_rng(17))
    out: dict[str, float] = {}
    with fresh_database() as url:
        engine = make_engine(url)
        try:
            if args.alerts:
                import_in_batches(CatalogStorage(engine), synthetic(args.alerts))
            extra = {"NUFAIR_DISPATCHER_ENABLED": "false", "NUFAIR_SCAN_RUNNER_ENABLED": "false"}
            with serve(url, load_sample=not args.alerts, extra_env=extra) as base, \
                    httpx.Client(timeout=600) as client:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.execute(text("VACUUM ANALYZE"))
                    out["alerts"] = float(c.execute(text(
                        "SELECT count(*) FROM nufair.alerts")).scalar_one())
                # the upload alone (parse, temporary table), for what the join adds
                out["upload_only_ms"], _ = timed_query(
                    client, base, "SELECT count(*) FROM TAP_UPLOAD.src", upload, args.repeat)
                for name, p in (("intersects", "INTERSECTS"), ("contains", "CONTAINS")):
                    out[f"{name}_ms"], rows = timed_query(client, base, JOIN.format(p=p),
                                                          upload, args.repeat)
                    out[f"{name}_rows"] = float(rows)
                out["intersects_arcsec_ms"], rows = timed_query(client, base, ARCSEC,
                                                                upload, args.repeat)
                out["intersects_arcsec_rows"] = float(rows)
                if args.self_join:
                    for name, p, level in (("self_join", "INTERSECTS", 90),
                                           ("self_contains", "CONTAINS", 50)):
                        out[f"{name}_ms"], rows = timed_query(
                            client, base, SELF.format(p=p, level=level), None, args.repeat)
                        out[f"{name}_rows"] = float(rows)
        finally:
            engine.dispose()
    for k, v in out.items():
        print(f"{k:>18}: {v:.1f}")
    write_result(args.out, {"sources": args.sources, "repeat": args.repeat, **out,
                            "loadavg_1min_at_start": load_start})


if __name__ == "__main__":
    main()
