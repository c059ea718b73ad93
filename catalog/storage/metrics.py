"""Counts for the Prometheus endpoint, read from stored facts.

Revisions, notice attempts and scans are immutable or append-only rows, so counting them
gives counters that are exact across processes and restarts (an in-process counter would
reset with each worker and miss other workers' work).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from catalog.schema.events import revisions
from catalog.schema.ingest import scans
from catalog.schema.outbox import notice_attempts, notices


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """revisions by source; delivery attempts by (sink, ok); pending notices by sink;
    unfinished scans by priority lane; notices by (sink, state); seconds since the oldest
    pending notice of each sink was queued; finished scans by (lane, outcome)."""

    revisions: dict[str, int]
    attempts: dict[tuple[str, bool], int]
    pending_notices: dict[str, int]
    scan_queue: dict[str, int]
    notice_states: dict[tuple[str, str], int]
    oldest_pending_s: dict[str, float]
    scans_finished: dict[tuple[str, str], int]


def snapshot(engine: Engine) -> MetricsSnapshot:
    """The counts now, read from the stored rows."""
    with engine.connect() as conn:
        revs: dict[str, int] = {s: n for s, n in conn.execute(
            select(revisions.c.source, func.count()).group_by(revisions.c.source))}
        attempts = {(sink, ok): n for sink, ok, n in conn.execute(
            select(notices.c.sink, notice_attempts.c.ok, func.count())
            .join(notices, notices.c.id == notice_attempts.c.notice_pk)
            .group_by(notices.c.sink, notice_attempts.c.ok))}
        states = {(sink, state): int(n) for sink, state, n in conn.execute(
            select(notices.c.sink, notices.c.status, func.count())
            .group_by(notices.c.sink, notices.c.status))}
        oldest = {sink: float(age) for sink, age in conn.execute(
            select(notices.c.sink,
                   func.extract("epoch", func.now() - func.min(notices.c.created_at)))
            .where(notices.c.status == "pending").group_by(notices.c.sink))}
        queue: dict[str, int] = {p: n for p, n in conn.execute(
            select(scans.c.priority, func.count()).where(scans.c.finished_at.is_(None))
            .group_by(scans.c.priority))}
        finished = {(p, o): int(n) for p, o, n in conn.execute(
            select(scans.c.priority, scans.c.outcome, func.count())
            .where(scans.c.outcome.is_not(None)).group_by(scans.c.priority, scans.c.outcome))}
    pending = {sink: n for (sink, state), n in states.items() if state == "pending"}
    return MetricsSnapshot(revs, attempts, pending, queue, states, oldest, finished)
