"""Storage of publication: the notices of revisions (the outbox), the dispatcher's claims
and attempts.

:class:`OutboxStore` works on the open transaction of a flow
(:func:`catalog.storage.unit.catalog_tx`): it reads back what a stored revision's notices
say and inserts the rendered notices, so that a revision and the notices that announce it
commit together, or neither does. What the notices say and who receives them are rules of
:mod:`catalog.publish`. :class:`OutboxStorage` serves the dispatcher: claims of due
notices, attempts, and reads.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from catalog.schema.events import EventBase, Revision, artifacts, events, revisions
from catalog.schema.outbox import (
    NoticeAttemptRead,
    NoticeBase,
    NoticeRead,
    notice_attempts,
    notices,
)
from catalog.storage.fair import ARTIFACT_LANDING_KEY


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    """What the catalog holds about a revision to be announced.

    ``revision`` and ``event`` are the stored rows, ``earlier`` the event's earlier
    revisions by number, and ``skymaps`` the FITS skymap of each of these revisions that has
    one, by revision number: (landing key of its DOI, or None while it has none; file name).
    """

    revision: Revision
    event: EventBase
    earlier: list[Revision]
    skymaps: dict[int, tuple[str | None, str]]


def _waits_its_turn(rev: FromClause) -> ColumnElement[bool]:
    """True while a notice of an earlier revision of the event, to the same sink, is pending.

    ``rev`` is the revision of the notice being claimed (joined to ``notices``).

    "Earlier" is by revision number: a sink gets revision 0 of an event before revision 1,
    and so on. The notices of one revision to one sink (its formats) are separate streams
    and go independently. A pending notice blocks the later revisions while it is claimed
    or waits out its backoff; delivered (or, once that state exists, given up) it no longer
    does. The waiting notices keep their own ``next_attempt_at`` (long past) and are never
    tried while they wait, so they go right after it, with no attempts counted. Only a
    commit can lift the block, never set it again, so dispatchers that claim at the same
    time cannot take two revisions of one event for one sink out of turn.
    """
    earlier = notices.alias("earlier")
    earlier_rev = revisions.alias("earlier_rev")
    return exists().where(
        earlier.c.sink == notices.c.sink, earlier.c.status == "pending",
        earlier_rev.c.id == earlier.c.revision_pk, earlier_rev.c.event_pk == rev.c.event_pk,
        earlier_rev.c.number < rev.c.number)


class OutboxStore:
    """Reads and writes of publication on one open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def notice_facts(self, revision_pk: int) -> NoticeFacts:
        """What the notices of a stored revision are made from, read back from the catalog."""
        conn = self.conn
        rev = Revision.model_validate(conn.execute(
            select(revisions).where(revisions.c.id == revision_pk)).one()._mapping)
        ev = EventBase.model_validate(conn.execute(
            select(events).where(events.c.id == rev.event_pk)).one()._mapping)
        earlier = [Revision.model_validate(r._mapping) for r in conn.execute(
            select(revisions).where(revisions.c.event_pk == rev.event_pk,
                                    revisions.c.number < rev.number)
            .order_by(revisions.c.number))]
        skymaps = {row.number: (row.landing, row.filename) for row in conn.execute(
            select(revisions.c.number, ARTIFACT_LANDING_KEY.label("landing"),
                   artifacts.c.filename)
            .join(revisions, revisions.c.id == artifacts.c.revision_pk)
            .where(revisions.c.event_pk == rev.event_pk, revisions.c.number <= rev.number,
                   artifacts.c.role == "skymap-fits"))}
        return NoticeFacts(revision=rev, event=ev, earlier=earlier, skymaps=skymaps)

    def set_ivorn(self, revision_pk: int, ivorn: str) -> None:
        """Give a revision its IVORN (once, when its first notices are queued)."""
        self.conn.execute(update(revisions).where(revisions.c.id == revision_pk)
                          .values(ivorn=ivorn))

    def insert(self, queued: Sequence[NoticeBase]) -> int:
        """Insert notices (a notice already queued is kept as it is); how many are new."""
        if not queued:
            return 0
        result = self.conn.execute(insert(notices).values([q.model_dump() for q in queued])
                                   .on_conflict_do_nothing().returning(notices.c.id))
        return len(result.all())


class OutboxStorage:
    """The dispatcher's side of the outbox: claims, attempts and reads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------- dispatch

    def claim_due(self, sinks: Collection[str], limit: int, lease_s: float,
                  prefixes: Collection[str] = ()) -> list[NoticeRead]:
        """Claim up to ``limit`` due notices for ``sinks``, oldest first, each in its turn.

        ``FOR UPDATE SKIP LOCKED`` lets several dispatchers share the outbox; the claim
        pushes ``next_attempt_at`` out by ``lease_s`` so that a dispatcher that dies
        mid-send leaves the notice to be claimed again once the lease has run out. A notice
        waits its turn (:func:`_waits_its_turn`): it is not claimed while a notice of an
        earlier revision of the same event to the same sink is pending, so a sink gets an
        event's revisions in order whatever the backoff of each, across any number of
        dispatchers. ``prefixes``: also the sinks whose name starts with one of them
        (``sub:`` for the sinks of region subscriptions, built per notice).
        """
        if not sinks and not prefixes:
            return []
        named = or_(notices.c.sink.in_(list(sinks)),
                    *(notices.c.sink.startswith(p, autoescape=True) for p in prefixes))
        rev = revisions.alias("rev")
        due = (select(notices.c.id)
               .join(rev, rev.c.id == notices.c.revision_pk)
               .where(notices.c.status == "pending", notices.c.next_attempt_at <= func.now(),
                      named, ~_waits_its_turn(rev))
               .order_by(notices.c.next_attempt_at, notices.c.id)
               .limit(limit).with_for_update(of=notices, skip_locked=True))
        stmt = (update(notices).where(notices.c.id.in_(due.scalar_subquery()))
                .values(next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0,
                                                                        lease_s))
                .returning(*notices.c))
        with self.engine.begin() as conn:
            rows = conn.execute(stmt).mappings().all()
        return sorted((NoticeRead.model_validate(r) for r in rows), key=lambda n: n.id)

    def record_attempt(self, notice_pk: int, *, started_at: datetime, finished_at: datetime,
                       ok: bool, status_code: int | None, detail: str | None,
                       retry_at: datetime | None) -> int:
        """Record one attempt (a new row, never an update) and move the notice's state.

        Returns the attempt number. ``retry_at`` is when a failed notice is due again.
        """
        with self.engine.begin() as conn:
            count = conn.execute(select(notices.c.attempt_count).where(
                notices.c.id == notice_pk).with_for_update()).scalar_one()
            number = int(count) + 1
            conn.execute(insert(notice_attempts).values(
                notice_pk=notice_pk, number=number, started_at=started_at,
                finished_at=finished_at, ok=ok, status_code=status_code,
                detail=(detail or "")[:2000] or None,
                duration_s=(finished_at - started_at).total_seconds()))
            values: dict[str, Any] = {"attempt_count": number}
            if ok:
                values.update(status="delivered", delivered_at=finished_at)
            elif retry_at is not None:
                values["next_attempt_at"] = retry_at
            conn.execute(update(notices).where(notices.c.id == notice_pk,
                                               notices.c.status == "pending").values(values))
        return number

    # ------------------------------------------------------------- reads

    def notices_of(self, *, revision_pk: int | None = None, event_pk: int | None = None,
                   ) -> list[NoticeRead]:
        """The notices of a revision or of an event, in order."""
        stmt = select(notices).order_by(notices.c.id)
        if revision_pk is not None:
            stmt = stmt.where(notices.c.revision_pk == revision_pk)
        if event_pk is not None:
            stmt = stmt.join(revisions, and_(revisions.c.id == notices.c.revision_pk,
                                             revisions.c.event_pk == event_pk))
        with self.engine.connect() as conn:
            return [NoticeRead.model_validate(r) for r in conn.execute(stmt).mappings()]

    def attempts_of(self, notice_pk: int) -> list[NoticeAttemptRead]:
        """The delivery attempts of a notice, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(notice_attempts).where(notice_attempts.c.notice_pk == notice_pk)
                .order_by(notice_attempts.c.number)).mappings().all()
        return [NoticeAttemptRead.model_validate(r) for r in rows]

    def pending_count(self) -> int:
        """How many notices wait for delivery."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(notices)
                                    .where(notices.c.status == "pending")).scalar_one())

    def database_now(self) -> datetime:
        """The database's clock (the clock of ``next_attempt_at``)."""
        with self.engine.connect() as conn:
            now: datetime = conn.execute(select(func.now())).scalar_one()
            return now

