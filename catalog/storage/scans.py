"""Storage of scans: requests, the claims and heartbeats of runners, snapshots, outcomes.

A scan's state is never stored: it follows from the facts kept on the row
(:func:`scan_state`). A runner claims a scan with ``SELECT ... FOR UPDATE SKIP LOCKED``
(realtime first), proves it is alive with heartbeats, and every write it makes afterwards
is fenced by its claim: each claim gets a fresh random ``claim_token`` and every write of the
runner (heartbeat, snapshot, release, finish, the update's transaction) checks it, so a
runner that lost its claim to another (its heartbeat went stale and the scan was
re-claimed, possibly under the same worker name) can no longer write anything. A scan is
claimed at most ``max_claims`` times; one that would need more is failed with the reason
(:meth:`ScanStorage.fail_exhausted`) instead of being passed around forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import uuid4

import numpy as np
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine

from catalog.errors import Conflict, NotFound
from catalog.schema.events import events, revisions
from catalog.schema.ingest import ScanRead, ScanSnapshotRead, raw_events, scan_snapshots, scans
from catalog.storage.raw_events import RawEventStore

State = Literal["pending", "running", "done", "aborted", "failed"]
Priority = Literal["realtime", "reprocessing"]


def scan_state(row: ScanRead, stale_after: timedelta) -> State:
    """The state that the stored facts of ``row`` imply.

    * finished → its outcome (``done``, ``aborted``, ``failed``);
    * claimed with a heartbeat younger than ``stale_after`` → ``running``;
    * otherwise → ``pending`` (never claimed, released at shutdown, or its runner stopped
      beating and the next runner will re-claim it).
    """
    if row.outcome is not None:
        return row.outcome  # type: ignore[return-value]  # CHECK constraint: one of three
    if (row.claimed_by is not None and row.heartbeat_at is not None
            and row.now - row.heartbeat_at < stale_after):
        return "running"
    return "pending"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a runner reports (angles in degrees)."""

    fraction: float
    pixels_done: int
    pixels_total: int
    rate: float
    eta_s: float | None
    best: tuple[float, float, float] | None


class LostClaim(RuntimeError):
    """The runner no longer holds the scan (another runner re-claimed it)."""


_cur = revisions.alias("scan_rev")
#: A scan as :class:`ScanRead`: its row, its raw event's identity, its event's name, its
#: update revision's number and the database's clock.
_SELECT = (
    select(*scans.c, raw_events.c.observatory, raw_events.c.run_id, raw_events.c.event_id,
           raw_events.c.event_pk, events.c.name.label("event_name"),
           _cur.c.number.label("revision_number"), func.now().label("now"))
    .select_from(scans.join(raw_events, raw_events.c.id == scans.c.raw_event_pk)
                 .outerjoin(events, events.c.id == raw_events.c.event_pk)
                 .outerjoin(_cur, _cur.c.id == scans.c.revision_pk)))

#: The columns of a snapshot as :class:`ScanSnapshotRead` (all but the final result).
_SNAPSHOT = [scan_snapshots.c[k] for k in ScanSnapshotRead.model_fields]


def _finite(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _get(conn: Connection, pk: int) -> ScanRead:
    r = conn.execute(_SELECT.where(scans.c.id == pk)).mappings().first()
    if r is None:
        raise NotFound(f"no scan {pk}", details={"scan": pk})
    return ScanRead.model_validate(r)


def _ours(pk: int, token: str) -> tuple[Any, ...]:
    """The fence: scan ``pk``, still under the claim ``token`` was issued for, not finished.

    The token, not the worker's name, is compared: a runner restarted under the same name
    (or a slot that re-claimed its own stale scan) holds a new claim, and the old one's
    late writes must fail all the same."""
    return (scans.c.id == pk, scans.c.claim_token == token, scans.c.finished_at.is_(None))


def _lost(pk: int, token: str) -> LostClaim:
    return LostClaim(f"scan {pk}: claim {token[:8]} is no longer held (re-claimed by another "
                     "runner, released or finished)")


def _lock_ours(conn: Connection, pk: int, token: str) -> None:
    held = conn.execute(select(scans.c.id).where(*_ours(pk, token))
                        .with_for_update()).first()
    if held is None:
        raise _lost(pk, token)


def _claimable(lanes: Sequence[Priority], stale_after: timedelta) -> tuple[Any, ...]:
    """Open scans of ``lanes`` that nobody holds, or whose holder's heartbeat is stale."""
    stale = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, stale_after.total_seconds())
    return (scans.c.finished_at.is_(None), scans.c.priority.in_(list(lanes)),
            or_(scans.c.claimed_by.is_(None), scans.c.heartbeat_at < stale))

def _insert_snapshot(conn: Connection, pk: int, kind: str, snap: Snapshot,
                     result: dict[str, Any] | None) -> int:
    seq = int(conn.execute(select(func.coalesce(func.max(scan_snapshots.c.seq), 0) + 1)
                           .where(scan_snapshots.c.scan_pk == pk)).scalar_one())
    best = snap.best or (None, None, None)
    conn.execute(insert(scan_snapshots).values(
        scan_pk=pk, seq=seq, kind=kind, fraction=snap.fraction,
        pixels_done=snap.pixels_done, pixels_total=snap.pixels_total,
        rate=_finite(snap.rate) or 0.0, eta_s=_finite(snap.eta_s),
        best_ra=_finite(best[0]), best_dec=_finite(best[1]), best_llh=_finite(best[2]),
        result=result))
    return seq



class ScanStorage:
    """Reads and writes of ``scans`` and ``scan_snapshots``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ requests

    def create(self, raw_event_pk: int, *, priority: Priority, config: dict[str, Any],
               labels: Sequence[str] = (), publish: str = "none",
               origin_scan_pk: int | None = None) -> ScanRead:
        """Queue a scan of a stored raw event."""
        with self.engine.begin() as conn:
            pk = ScanStore(conn).create(raw_event_pk, priority=priority, config=config,
                                        labels=labels, publish=publish,
                                        origin_scan_pk=origin_scan_pk)
            return _get(conn, pk)

    def create_inline(self, body: dict[str, Any], *, priority: Priority,
                      config: dict[str, Any], labels: Sequence[str] = (),
                      publish: str = "none") -> ScanRead:
        """Store an inline raw event (or find it, if already received) and queue its scan,
        in one transaction."""
        with self.engine.begin() as conn:
            raw_pk = RawEventStore(conn).insert_or_find(body)
            pk = ScanStore(conn).create(raw_pk, priority=priority, config=config,
                                        labels=labels, publish=publish)
            return _get(conn, pk)

    def get(self, pk: int) -> ScanRead:
        """Scan ``pk``; ``NotFound`` if none."""
        with self.engine.connect() as conn:
            return _get(conn, pk)

    def find(self, *, run_id: int | None = None, event_id: int | None = None,
             label: str | None = None, limit: int = 100) -> list[ScanRead]:
        """Scans, newest first, of a run, an event or a label."""
        stmt = _SELECT.order_by(scans.c.id.desc()).limit(limit)
        if run_id is not None:
            stmt = stmt.where(raw_events.c.run_id == run_id)
        if event_id is not None:
            stmt = stmt.where(raw_events.c.event_id == event_id)
        if label is not None:
            stmt = stmt.where(scans.c.labels.any_() == label)
        with self.engine.connect() as conn:
            return [ScanRead.model_validate(r) for r in conn.execute(stmt).mappings()]

    def request_abort(self, pk: int) -> ScanRead:
        """Ask for an abort. A scan nobody runs ends at once; a running one ends when its
        runner sees the request. ``Conflict`` for a scan already finished."""
        with self.engine.begin() as conn:
            row = conn.execute(select(scans.c.finished_at, scans.c.claimed_by)
                               .where(scans.c.id == pk).with_for_update()).first()
            if row is None:
                raise NotFound(f"no scan {pk}", details={"scan": pk})
            if row.finished_at is not None:
                raise Conflict(f"scan {pk} has already finished", details={"scan": pk})
            values: dict[str, Any] = {"abort_requested_at": func.coalesce(
                scans.c.abort_requested_at, func.now())}
            if row.claimed_by is None:
                values.update(finished_at=func.now(), outcome="aborted")
            conn.execute(update(scans).where(scans.c.id == pk).values(values))
            return _get(conn, pk)

    # ------------------------------------------------------------------ runners

    def fail_exhausted(self, lanes: Sequence[Priority], stale_after: timedelta,
                       max_claims: int) -> list[int]:
        """Fail the claimable scans of ``lanes`` already claimed ``max_claims`` times; their
        ids. Such a scan lost every runner that took it (or every runner died on it):
        another claim would most likely go the same way, and it must end visibly."""
        due = (select(scans.c.id)
               .where(*_claimable(lanes, stale_after), scans.c.claims >= max_claims)
               .with_for_update(skip_locked=True))
        reason = (f"given up: claimed {max_claims} times without finishing (every runner "
                  "that took it stopped or lost its claim; NUFAIR_SCAN_MAX_CLAIMS)")
        with self.engine.begin() as conn:
            return list(conn.execute(
                update(scans).where(scans.c.id.in_(due.scalar_subquery()))
                .values(finished_at=func.now(), outcome="failed", error=reason,
                        claimed_by=None, claim_token=None, heartbeat_at=None)
                .returning(scans.c.id)).scalars())

    def claim_next(self, worker: str, lanes: Sequence[Priority], stale_after: timedelta,
                   max_claims: int | None = None) -> ScanRead | None:
        """Claim the next scan for ``worker``: realtime first, then oldest.

        Open scans that nobody holds, or whose holder's heartbeat is older than
        ``stale_after`` (its runner died), can be claimed, unless already claimed
        ``max_claims`` times; ``claims`` counts the starts. The row returned carries the new
        ``claim_token`` that every later write of this claim must present.
        """
        cond = _claimable(lanes, stale_after)
        if max_claims is not None:
            cond = (*cond, scans.c.claims < max_claims)
        nxt = (select(scans.c.id).where(*cond)
               .order_by((scans.c.priority == "realtime").desc(), scans.c.id)
               .limit(1).with_for_update(skip_locked=True))
        with self.engine.begin() as conn:
            pk = conn.execute(update(scans).where(scans.c.id == nxt.scalar_subquery())
                              .values(claimed_by=worker, claim_token=uuid4().hex,
                                      claims=scans.c.claims + 1,
                                      started_at=func.coalesce(scans.c.started_at, func.now()),
                                      heartbeat_at=func.now())
                              .returning(scans.c.id)).scalar()
            return None if pk is None else _get(conn, pk)

    def heartbeat(self, pk: int, token: str) -> bool:
        """Renew the claim; returns whether an abort was requested. ``LostClaim`` if the
        claim ``token`` is no longer the scan's."""
        with self.engine.begin() as conn:
            row = conn.execute(update(scans).where(*_ours(pk, token))
                               .values(heartbeat_at=func.now())
                               .returning(scans.c.abort_requested_at)).first()
        if row is None:
            raise _lost(pk, token)
        return row.abort_requested_at is not None

    def check(self, pk: int, token: str) -> None:
        """``LostClaim`` unless the claim ``token`` still holds the scan (a cheap look
        before a long upload: a runner that lost its claim does not place files)."""
        with self.engine.connect() as conn:
            if conn.execute(select(scans.c.id).where(*_ours(pk, token))).first() is None:
                raise _lost(pk, token)

    def release(self, pk: int, token: str) -> None:
        """Give the scan back unfinished (runner shutting down): next runner restarts it."""
        with self.engine.begin() as conn:
            conn.execute(update(scans).where(*_ours(pk, token))
                         .values(claimed_by=None, claim_token=None, heartbeat_at=None))

    def add_snapshot(self, pk: int, token: str, snap: Snapshot) -> int:
        """Store a partial snapshot (a new row); ``LostClaim`` if the claim is lost."""
        with self.engine.begin() as conn:
            _lock_ours(conn, pk, token)
            return _insert_snapshot(conn, pk, "partial", snap, None)

    def finish(self, pk: int, token: str, outcome: Literal["aborted", "failed"],
               error: str | None = None) -> None:
        """End a scan we hold without a result; ``LostClaim`` if the claim is lost."""
        with self.engine.begin() as conn:
            _lock_ours(conn, pk, token)
            conn.execute(update(scans).where(scans.c.id == pk).values(
                finished_at=func.now(), outcome=outcome, error=(error or "")[:4000] or None))

    # ------------------------------------------------------------------ snapshots

    def snapshots(self, pk: int, *, with_final_result: bool = False,
                  ) -> tuple[list[ScanSnapshotRead], dict[str, Any] | None]:
        """Every snapshot of a scan in order, and the final result JSON when asked."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(*_SNAPSHOT).where(scan_snapshots.c.scan_pk == pk)
                                .order_by(scan_snapshots.c.seq)).mappings().all()
            final = None
            if with_final_result:
                final = conn.execute(select(scan_snapshots.c.result).where(
                    scan_snapshots.c.scan_pk == pk, scan_snapshots.c.kind == "final")).scalar()
        return [ScanSnapshotRead.model_validate(r) for r in rows], final

    def latest_snapshot(self, pk: int) -> ScanSnapshotRead | None:
        """The newest snapshot of a scan, if any."""
        with self.engine.connect() as conn:
            r = conn.execute(select(*_SNAPSHOT).where(scan_snapshots.c.scan_pk == pk)
                             .order_by(scan_snapshots.c.seq.desc()).limit(1)).mappings().first()
        return None if r is None else ScanSnapshotRead.model_validate(r)

    # ------------------------------------------------------------------ update revisions

    def raw_event_of(self, event_pk: int) -> int | None:
        """The raw event a catalog event was made from (None: imported from a notice)."""
        with self.engine.connect() as conn:
            return conn.execute(select(raw_events.c.id).where(
                raw_events.c.event_pk == event_pk)).scalar()

    def next_update_number(self, event_pk: int) -> int:
        """The number the next revision of an event will get (unless another comes first)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(revisions.c.number), -1) + 1)
                                    .where(revisions.c.event_pk == event_pk)).scalar_one())



class ScanStore:
    """Writes of ``scans`` on one open transaction (:func:`catalog.storage.unit.catalog_tx`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(self, raw_event_pk: int, *, priority: Priority, config: dict[str, Any],
               labels: Sequence[str] = (), publish: str = "none",
               origin_scan_pk: int | None = None) -> int:
        """Queue a scan; returns its id."""
        return int(self.conn.execute(insert(scans).values(
            raw_event_pk=raw_event_pk, priority=priority, config=config, labels=list(labels),
            publish=publish, origin_scan_pk=origin_scan_pk).returning(scans.c.id)).scalar_one())

    def hold(self, pk: int, token: str) -> None:
        """Lock the scan until commit; ``LostClaim`` if the claim ``token`` is lost."""
        _lock_ours(self.conn, pk, token)

    def finish_done(self, pk: int, token: str, snap: Snapshot, result: dict[str, Any],
                    revision_pk: int | None, note: str | None = None) -> int:
        """The final snapshot, the outcome ``done``, the update revision made from it (if
        any) and the ``note`` of why it did less than asked (if it did). ``LostClaim`` if
        the claim ``token`` is lost. Returns the snapshot's number."""
        _lock_ours(self.conn, pk, token)
        seq = _insert_snapshot(self.conn, pk, "final", snap, result)
        self.conn.execute(update(scans).where(scans.c.id == pk).values(
            finished_at=func.now(), outcome="done", revision_pk=revision_pk, note=note))
        return seq
