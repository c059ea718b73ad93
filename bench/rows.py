"""What storage's SQLModel read models cost on the hot paths (issue 13, item 3).

Storage builds its read models with ``Model.model_validate(row_mapping)`` where it used to
fill frozen dataclasses (``OutboxNotice(**{k: row[k] for k in fields})``). This measures,
on a fresh database:

* the cost of building one row both ways (a notice as the dispatcher claims it, a scan as a
  runner claims it), from the same fetched rows; the dataclasses are the removed ones,
  rebuilt here as the baseline;
* the whole dispatcher claim (``OutboxStorage.claim_due``, 100 notices) and the scan
  runner's claim and heartbeat (``ScanStorage.claim_next`` / ``heartbeat``), for scale.

Run: ``python -m bench.rows [--rows 100] [--repeat 30]``.
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, insert, select, update

from bench.common import fresh_database, machine, median, timed, write_result
from catalog.schema.events import events, revisions
from catalog.schema.ingest import ScanRead
from catalog.schema.outbox import NoticeRead, notices
from catalog.storage.outbox import OutboxStorage
from catalog.storage.raw_events import RawEventStore
from catalog.storage.scans import _SELECT as SCAN_SELECT
from catalog.storage.scans import ScanStorage, ScanStore

#: The removed dataclasses, field for field: the baseline.
OldNotice = dataclasses.make_dataclass(
    "OldNotice", list(NoticeRead.model_fields), frozen=True, slots=True)
OldScan = dataclasses.make_dataclass(
    "OldScan", list(ScanRead.model_fields), frozen=True, slots=True)


def _per_row(rows: list[Any], model: Any, old: Any, repeat: int) -> dict[str, float]:
    """Microseconds per row: model_validate vs the dataclass fill, medians of ``repeat``."""
    fields = [f.name for f in dataclasses.fields(old)]
    new_t = [timed(lambda: [model.model_validate(r) for r in rows])[0] for _ in range(repeat)]
    old_t = [timed(lambda: [old(**{k: r[k] for k in fields}) for r in rows])[0]
             for _ in range(repeat)]
    n = len(rows)
    return {"model_validate_us": median(new_t) / n * 1e6,
            "dataclass_us": median(old_t) / n * 1e6}


def _seed(engine: Any, n: int) -> int:
    """An event, a revision, ``n`` notices of 1 KiB and a raw event with one scan."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        ev = conn.execute(insert(events).values(
            observatory="bench", run_id=1, event_id=1, stream="gold", event_time=now,
            event_mjd=60000.0).returning(events.c.id)).scalar_one()
        rev = conn.execute(insert(revisions).values(
            event_pk=ev, number=0, kind="initial", source="bench", source_key="bench:0",
            stream="gold").returning(revisions.c.id)).scalar_one()
        conn.execute(insert(notices), [
            {"revision_pk": rev, "sink": "webhook", "format": f"f{i}",
             "idempotency_key": f"bench:{i}", "media_type": "application/json",
             "filename": f"n{i}.json", "payload": b"x" * 1024} for i in range(n)])
        raw = RawEventStore(conn).insert_or_find(
            {"observatory": "bench", "run_id": 1, "event_id": 1})
        return ScanStore(conn).create(raw, priority="realtime", config={})


def _heartbeat(scans: ScanStorage, pk: int, token: str) -> float:
    """Seconds one heartbeat takes."""
    return timed(lambda: scans.heartbeat(pk, token))[0]


def main() -> None:
    """Measure and print; write ``bench/results/rows.json``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    with fresh_database() as url:
        engine = create_engine(url)
        scan_pk = _seed(engine, args.rows)
        with engine.connect() as conn:
            notice_rows = list(conn.execute(select(notices)).mappings())
            scan_rows = list(conn.execute(SCAN_SELECT).mappings()) * args.rows
        out: dict[str, Any] = {
            "notice_row": _per_row(notice_rows, NoticeRead, OldNotice, args.repeat),
            "scan_row": _per_row(scan_rows, ScanRead, OldScan, args.repeat)}

        outbox = OutboxStorage(engine)
        claims = []
        for _ in range(args.repeat):
            with engine.begin() as conn:  # every notice due again
                conn.execute(update(notices).values(
                    next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
            t, got = timed(lambda: outbox.claim_due(["webhook"], args.rows, 60.0))
            assert len(got) == args.rows
            claims.append(t)
        out["claim_due_ms"] = median(claims) * 1e3

        scans = ScanStorage(engine)
        stale = timedelta(seconds=60)
        claim_t, beat_t = [], []
        for _ in range(args.repeat):
            t, row = timed(lambda: scans.claim_next("bench", ["realtime"], stale))
            assert row is not None and row.id == scan_pk and row.claim_token is not None
            claim_t.append(t)
            beat_t.append(_heartbeat(scans, scan_pk, row.claim_token))
            scans.release(scan_pk, row.claim_token)
        out["claim_next_ms"] = median(claim_t) * 1e3
        out["heartbeat_ms"] = median(beat_t) * 1e3
        engine.dispose()
    out["machine"] = machine()
    for key in ("notice_row", "scan_row"):
        v = out[key]
        print(f"{key}: model_validate {v['model_validate_us']:.1f} µs, "
              f"dataclass {v['dataclass_us']:.1f} µs per row")
    print(f"claim_due({args.rows}): {out['claim_due_ms']:.2f} ms; claim_next: "
          f"{out['claim_next_ms']:.2f} ms; heartbeat: {out['heartbeat_ms']:.2f} ms "
          f"(load {out['machine']['loadavg_1min']})")
    write_result("rows", out)


if __name__ == "__main__":
    main()
