"""Storage of outbox steering: the notices an operator lists, retries, replays or the
dispatcher gives up on, and the ages that tell whether delivery keeps up.

The dispatcher's own claims and attempts are in :mod:`catalog.storage.outbox`; this module
moves a notice between the states of :data:`catalog.schema.outbox.NOTICE_STATES` on an
operator's word (retry, replay) or the dispatcher's (give up), and reads the outbox the way
an operator asks for it: by alert, sink and state, a page at a time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, exists, func, select, update
from sqlalchemy.engine import Connection, Engine

from catalog.errors import Conflict, NotFound
from catalog.schema.events import events, revisions
from catalog.schema.outbox import NoticeStatusRead, notice_attempts, notices
from catalog.storage.lookup import resolve_event


@dataclass(frozen=True, slots=True)
class NoticeFilter:
    """Which notices a listing shows: an event, a sink, a state (None: any); after ``after_id``
    (the last id of the previous page), ``limit`` of them, by id."""

    event_pk: int | None = None
    sink: str | None = None
    state: str | None = None
    after_id: int = 0
    limit: int = 100


def _listing() -> Select[tuple[object, ...]]:
    """The notices with the columns of :class:`NoticeStatusRead`."""
    last = (select(notice_attempts.c.detail)
            .where(notice_attempts.c.notice_pk == notices.c.id)
            .order_by(notice_attempts.c.number.desc()).limit(1)
            .correlate(notices).scalar_subquery())
    return (select(notices.c.id, events.c.name.label("alert"),
                   events.c.id.label("event_pk"), revisions.c.number.label("revision"),
                   notices.c.sink, notices.c.format, notices.c.status.label("state"),
                   notices.c.attempt_count.label("attempts"), notices.c.next_attempt_at,
                   notices.c.delivered_at, notices.c.failed_reason,
                   last.label("last_detail"), notices.c.created_at)
            .join(revisions, revisions.c.id == notices.c.revision_pk)
            .join(events, events.c.id == revisions.c.event_pk))


class SteeringStorage:
    """Reads and moves of the outbox on an operator's or the dispatcher's word."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------- reads

    def event_pk(self, key: str) -> int:
        """The id of event ``key`` (name, run_event or id); ``NotFound`` if none."""
        with self.engine.connect() as conn:
            return resolve_event(conn, key).id

    def list(self, f: NoticeFilter) -> list[NoticeStatusRead]:
        """One page of notices matching ``f``, by id."""
        stmt = _listing().where(notices.c.id > f.after_id)
        if f.event_pk is not None:
            stmt = stmt.where(revisions.c.event_pk == f.event_pk)
        if f.sink is not None:
            stmt = stmt.where(notices.c.sink == f.sink)
        if f.state is not None:
            stmt = stmt.where(notices.c.status == f.state)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(notices.c.id).limit(f.limit)).mappings()
            return [NoticeStatusRead.model_validate(r) for r in rows]

    def get(self, notice_pk: int) -> NoticeStatusRead:
        """One notice; ``NotFound`` if none."""
        with self.engine.connect() as conn:
            row = conn.execute(_listing().where(notices.c.id == notice_pk)).mappings().first()
        if row is None:
            raise NotFound(f"no notice {notice_pk}", details={"notice": notice_pk})
        return NoticeStatusRead.model_validate(row)

    def oldest_due_age_s(self, sinks: Collection[str]) -> float | None:
        """Seconds since the longest-due notice for ``sinks`` became due (None: none due).

        A notice that waits for an earlier revision to the same sink is not counted (it is
        not the dispatcher's to send yet); one in backoff is not due. A dispatcher that
        keeps up claims every due notice within a poll, so this age stays near zero.
        """
        if not sinks:
            return None
        earlier = notices.alias("earlier")
        earlier_rev = revisions.alias("earlier_rev")
        waits = exists().where(
            earlier.c.sink == notices.c.sink, earlier.c.status == "pending",
            earlier_rev.c.id == earlier.c.revision_pk,
            earlier_rev.c.event_pk == revisions.c.event_pk,
            earlier_rev.c.number < revisions.c.number)
        stmt = (select(func.extract("epoch", func.now() - func.min(notices.c.next_attempt_at)))
                .select_from(notices.join(revisions, revisions.c.id == notices.c.revision_pk))
                .where(notices.c.status == "pending", notices.c.next_attempt_at <= func.now(),
                       notices.c.sink.in_(list(sinks)), ~waits))
        with self.engine.connect() as conn:
            age = conn.execute(stmt).scalar_one()
        return None if age is None else float(age)

    def oldest_pending_age_s(self) -> dict[str, float]:
        """Per sink, seconds since the oldest undelivered (pending) notice was queued."""
        stmt = (select(notices.c.sink,
                       func.extract("epoch", func.now() - func.min(notices.c.created_at)))
                .where(notices.c.status == "pending").group_by(notices.c.sink))
        with self.engine.connect() as conn:
            return {sink: float(age) for sink, age in conn.execute(stmt)}

    def state_counts(self) -> dict[tuple[str, str], int]:
        """Notices by (sink, state)."""
        stmt = (select(notices.c.sink, notices.c.status, func.count())
                .group_by(notices.c.sink, notices.c.status))
        with self.engine.connect() as conn:
            return {(sink, state): int(n) for sink, state, n in conn.execute(stmt)}

    # ------------------------------------------------------------- moves

    def give_up(self, notice_pk: int, reason: str) -> bool:
        """Mark a pending notice ``failed`` with ``reason``; whether it was still pending.

        A failed notice no longer holds back the later revisions of its alert to its sink
        (the claim waits only on pending ones).
        """
        with self.engine.begin() as conn:
            n = conn.execute(update(notices).where(notices.c.id == notice_pk,
                                                   notices.c.status == "pending")
                             .values(status="failed", failed_reason=reason[:2000]))
        return bool(n.rowcount)

    def retry(self, notice_pk: int) -> NoticeStatusRead:
        """Make a failed (or waiting) notice due now; ``Conflict`` for a delivered one."""
        with self.engine.begin() as conn:
            status = conn.execute(select(notices.c.status).where(notices.c.id == notice_pk)
                                  .with_for_update()).scalar_one_or_none()
            if status is None:
                raise NotFound(f"no notice {notice_pk}", details={"notice": notice_pk})
            if status == "delivered":
                raise Conflict(f"notice {notice_pk} is delivered: replay it to send it again",
                               details={"notice": notice_pk})
            conn.execute(update(notices).where(notices.c.id == notice_pk).values(
                status="pending", failed_reason=None, next_attempt_at=func.now()))
        return self.get(notice_pk)


class SteeringStore:
    """The moves of a replay on one open transaction (with the renders of
    :class:`catalog.storage.outbox.OutboxStore` on the same connection)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def announced_revisions(self, event_pk: int | None, since: datetime | None) -> list[int]:
        """Revisions that were announced (have at least one notice), of one event or all,
        created at or after ``since``: in order of event, then revision number."""
        announced = exists().where(notices.c.revision_pk == revisions.c.id)
        stmt = select(revisions.c.id).where(announced)
        if event_pk is not None:
            stmt = stmt.where(revisions.c.event_pk == event_pk)
        if since is not None:
            stmt = stmt.where(revisions.c.created_at >= since)
        stmt = stmt.order_by(revisions.c.event_pk, revisions.c.number)
        return [int(pk) for pk in self.conn.execute(stmt).scalars()]

    def requeue(self, revision_pks: Sequence[int], sinks: Collection[str]) -> list[int]:
        """Make every notice of ``revision_pks`` to ``sinks`` pending and due now, whatever
        its state (a replay sends delivered ones again); the ids, in order.

        All of them in one statement: the claim then sends each alert's revisions to each
        sink in order, the earlier one first.
        """
        if not revision_pks or not sinks:
            return []
        stmt = (update(notices)
                .where(and_(notices.c.revision_pk.in_(list(revision_pks)),
                            notices.c.sink.in_(list(sinks))))
                .values(status="pending", delivered_at=None, failed_reason=None,
                        next_attempt_at=func.now())
                .returning(notices.c.id))
        return sorted(int(pk) for pk in self.conn.execute(stmt).scalars())
