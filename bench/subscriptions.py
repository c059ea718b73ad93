"""Region subscriptions: the match of one revision against 100 000 subscriptions.

Fills a fresh database with ``--subs`` subscriptions (seeded): 90 % random cones of
0.3-15 degrees, 10 % survey-like footprints (declination bands, patchworks of order-5
cells, galactic-plane strips) shared by many subscribers, as order-29 ``int8range`` tiles
(COPY), each distinct footprint stored once as the service stores it. Then publishes
``--alerts`` alerts (circles of 0.5-8 degrees) through the publisher — which queues the
matches in the revision's transaction — and measures the match query itself with
``EXPLAIN (ANALYZE)``: its execution time in the database, and the CPU time of the
database backend per run (it does not grow with the load; local server only).
``--existing URL`` measures an already filled database's revisions.
Goal (issue 19): <= 50 ms per revision at 100 000 subscriptions.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import astropy.units as u
import healpy as hp
import numpy as np
from astropy.coordinates import SkyCoord
from sqlalchemy import text

from bench.common import fresh_database, machine, median, write_result
from catalog.notices.parsed import ErrorRegion, NoticeRecord, RevisionKind, Source, Stream
from catalog.publish import PublishConfig, Publisher, Route
from catalog.sky import POINT_ORDER, tile_order, unit_vector
from catalog.subscriptions.matching import match_query
from catalog.subscriptions.storage import footprint_digest
from nufair.app import make_engine


def _ranges(pix: np.ndarray, order: int) -> np.ndarray:
    """Sorted cells of one order → merged order-29 [lo, hi) ranges."""
    pix = np.unique(pix.astype(np.uint64))
    breaks = np.flatnonzero(np.diff(pix) != 1)
    lo = pix[np.concatenate(([0], breaks + 1))]
    hi = pix[np.concatenate((breaks, [len(pix) - 1]))] + np.uint64(1)
    shift = np.uint64(2 * (POINT_ORDER - order))
    return np.stack([lo << shift, hi << shift], axis=1)


def _cone(rng: np.random.Generator) -> np.ndarray:
    ra, dec = rng.uniform(0, 360), np.degrees(np.arcsin(rng.uniform(-1, 1)))
    r = rng.uniform(0.3, 15)
    order = tile_order(r)
    pix = hp.query_disc(1 << order, unit_vector(ra, dec), math.radians(r), inclusive=True,
                        nest=True)
    return _ranges(pix, order)


def _surveys(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    order = 5
    nside = 1 << order
    theta, phi = hp.pix2ang(nside, np.arange(12 * nside**2), nest=True)
    dec = 90 - np.degrees(theta)
    b = SkyCoord(np.degrees(phi) * u.deg, dec * u.deg).galactic.b.deg
    out = []
    for _ in range(n):
        kind = rng.integers(3)
        if kind == 0:
            lo = rng.uniform(-90, 80)
            pix = np.flatnonzero((dec >= lo) & (dec <= lo + rng.uniform(2, 30)))
        elif kind == 1:
            pix = np.flatnonzero(np.abs(b) < rng.uniform(2, 15))
        else:
            pix = rng.choice(12 * nside**2, size=int(rng.integers(5, 300)), replace=False)
        out.append(_ranges(pix, order))
    return out


def fill(engine: Any, n_subs: int, seed: int) -> tuple[int, int]:
    """Insert ``n_subs`` subscriptions, their footprints and tiles (an equal footprint
    once, by its digest, as :mod:`catalog.subscriptions.storage` does); the number of
    footprints and of tiles."""
    rng = np.random.default_rng(seed)
    surveys = _surveys(rng, 200)
    rows, tiles, prints = io.StringIO(), io.StringIO(), io.StringIO()
    n_tiles = 0
    footprint_of: dict[bytes, int] = {}
    for pk in range(1, n_subs + 1):
        ranges = surveys[rng.integers(len(surveys))] if rng.random() < 0.1 else _cone(rng)
        streams = "{gold,bronze,cascade}" if rng.random() < 0.7 else "{gold}"
        digest = footprint_digest(ranges)
        fp = footprint_of.get(digest)
        if fp is None:
            fp = footprint_of[digest] = len(footprint_of) + 1
            prints.write(f"{fp}\t\\\\x{digest.hex()}\n")
            for lo, hi in ranges:
                tiles.write(f"{fp}\t[{lo},{hi})\n")
            n_tiles += len(ranges)
        rows.write(f"{pk}\tsub {pk}\tbench\tactive\t{streams}\t\\N\tgcn-json\tsink\tfolder\t"
                   f"moc\t8\t1.0\t{fp}\n")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, cols, buf in (
                ("subscription_footprints", "id, digest", prints),
                ("subscriptions", "id, name, owner, state, streams, min_signalness, "
                 "notice_format, sink_kind, sink_target, footprint_kind, moc_order, area_deg2, "
                 "footprint_pk", rows),
                ("subscription_tiles", "footprint_pk, hpx", tiles)):
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                copy.write(buf.getvalue())
        cur.execute("SELECT setval(pg_get_serial_sequence('subscriptions', 'id'), %s)",
                    (n_subs,))
        cur.execute("SELECT setval(pg_get_serial_sequence('subscription_footprints', 'id'),"
                    " %s)", (len(footprint_of),))
        raw.commit()
        # As autovacuum does after many inserts: statistics, and the visibility map that
        # lets the match read the tile index alone.
        raw.driver_connection.autocommit = True
        cur.execute("VACUUM ANALYZE subscription_footprints")
        cur.execute("VACUUM ANALYZE subscriptions")
        cur.execute("VACUUM ANALYZE subscription_tiles")
    finally:
        raw.close()
    return len(footprint_of), n_tiles


def _alert(rng: np.random.Generator, i: int) -> NoticeRecord:
    r90 = float(rng.uniform(0.5, 8))
    t = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=i)
    return NoticeRecord(
        observatory="IceCube", run_id=200000 + i, event_id=i, name=None, stream=Stream.GOLD,
        event_time=t, kind=RevisionKind.INITIAL, source=Source.RECO, source_rev=0,
        source_key=f"bench:{i}", issued_at=t, ra=float(rng.uniform(0, 360)),
        dec=float(np.degrees(np.arcsin(rng.uniform(-1, 1)))),
        regions=(ErrorRegion(0.5, radius_deg=r90 / 2), ErrorRegion(0.9, radius_deg=r90)),
        energy_tev=100.0, signalness=0.5, far_per_year=1.0)


def backend_cpu_ms(conn: Any, sql: str, repeat: int) -> float | None:
    """CPU milliseconds the database backend spends on one run of ``sql`` (mean of
    ``repeat`` runs, every row fetched), from ``/proc/<backend pid>/stat``: unlike wall
    time, it does not grow with the machine's load. None when the server is not local."""
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    stat = Path(f"/proc/{pid}/stat")

    def ticks() -> int:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)

    try:
        before = ticks()
    except OSError:
        return None
    for _ in range(repeat):
        conn.execute(text(sql)).all()
    return (ticks() - before) * 1000 / os.sysconf("SC_CLK_TCK") / repeat


def measure(engine: Any, revision_pks: list[int], repeat: int) -> dict[str, Any]:
    """The match query of each revision: EXPLAIN ANALYZE execution time (median of
    ``repeat``) and the backend's CPU time per run."""
    exec_ms, cpu_ms, rows = [], [], []
    with engine.connect() as conn:
        for pk in revision_pks:
            sql = str(match_query(pk, 90, "gold", 0.5).compile(
                conn, compile_kwargs={"literal_binds": True}))
            runs = []
            for _ in range(repeat):
                plan = conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")).scalar_one()
                plan = plan if isinstance(plan, list) else json.loads(plan)
                runs.append(float(plan[0]["Execution Time"]))
            exec_ms.append(median(runs))
            rows.append(int(plan[0]["Plan"]["Actual Rows"]))
            cpu = backend_cpu_ms(conn, sql, 4 * repeat)
            if cpu is not None:
                cpu_ms.append(cpu)
    out: dict[str, Any] = {
        "revisions": len(revision_pks), "match_exec_ms_median": round(median(exec_ms), 2),
        "match_exec_ms_max": round(max(exec_ms), 2),
        "matched_median": median([float(r) for r in rows]), "matched_max": max(rows)}
    if cpu_ms:
        out |= {"match_backend_cpu_ms_median": round(median(cpu_ms), 2),
                "match_backend_cpu_ms_max": round(max(cpu_ms), 2)}
    return out


def main() -> None:
    """Fill, publish, measure; print and write ``bench/results/subscriptions.json``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--subs", type=int, default=100_000)
    ap.add_argument("--alerts", type=int, default=30)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--existing", metavar="URL",
                    help="measure the revisions of an already filled database only")
    args = ap.parse_args()
    if args.existing:
        engine = make_engine(args.existing)
        with engine.connect() as conn:
            pks = sorted(conn.execute(text("SELECT DISTINCT revision_pk FROM region_tiles"))
                         .scalars())
        print(json.dumps({**measure(engine, pks, args.repeat), "machine": machine()},
                         indent=1))
        engine.dispose()
        return
    with fresh_database() as url:
        engine = make_engine(url)
        t0 = time.perf_counter()
        n_footprints, n_tiles = fill(engine, args.subs, args.seed)
        fill_s = time.perf_counter() - t0
        publisher = Publisher(engine, PublishConfig("ivo://nufair.bench/IceCube",
                                                    (Route("folder", ("gcn-json",)),)))
        rng = np.random.default_rng(args.seed + 1)
        publish_ms, pks = [], []
        for i in range(args.alerts):
            t0 = time.perf_counter()
            (s,) = publisher.publish([_alert(rng, i)])
            publish_ms.append((time.perf_counter() - t0) * 1e3)
            pks.append(s.revision_pk)
        measured = measure(engine, pks, args.repeat)
        engine.dispose()
    result = {
        "subscriptions": args.subs, "footprints": n_footprints, "tiles": n_tiles,
        "fill_s": round(fill_s, 1), "alerts": args.alerts, **measured,
        "publish_ms_median": round(median(publish_ms), 1),
        "goal": "match <= 50 ms in the database at 100 000 subscriptions (issue 19)",
        "machine": machine()}
    print(json.dumps(result, indent=1))
    write_result("subscriptions", result)


if __name__ == "__main__":
    main()
