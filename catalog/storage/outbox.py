"""Storage of publication: revisions stored together with their notices (the outbox), the
claims and attempts of the dispatcher, and retractions.

A revision and the outbox rows that announce it are written in ONE transaction: the
catalog's own import (:meth:`CatalogStorage._import`, with its hooks such as DOI minting)
runs on the same connection, then the notices are rendered and inserted. Either the
revision and all its notices are committed, or none of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from catalog.errors import Conflict
from catalog.fair.config import file_url
from catalog.notices.model import (
    STREAM_CODES,
    Citation,
    Format,
    NoticeInput,
    make_ivorn,
    render,
)
from catalog.notices.parsed import NoticeRecord, RevisionKind, Source, Stream
from catalog.schema.events import artifacts, events, revisions
from catalog.schema.outbox import notice_attempts, notices
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import ARTIFACT_LANDING_KEY

#: Streams whose revisions are published; other events are archived silently.
ALERT_STREAMS = frozenset(STREAM_CODES)


@dataclass(frozen=True, slots=True)
class Route:
    """A sink and the notice formats it receives."""

    sink: str
    formats: tuple[Format, ...]


@dataclass(frozen=True, slots=True)
class PublishConfig:
    """How revisions are announced.

    Attributes
    ----------
    ivorn_base
        Authority and path of our IVORNs, e.g. ``ivo://nufair.example/IceCube``.
    routes
        Which sinks receive which formats.
    public_base_url
        Public address of the app. With it, ``healpix_url`` gives the skymap's URL under
        its version's landing page (:func:`catalog.fair.config.file_url`); without it, or
        while that version has no DOI, notices carry no skymap URL.
    """

    ivorn_base: str
    routes: tuple[Route, ...]
    public_base_url: str | None = None


@dataclass(frozen=True, slots=True)
class StoredRevision:
    """A revision written by :meth:`OutboxStorage.store` and the notices queued for it."""

    event_pk: int
    revision_pk: int
    number: int
    kind: str
    name: str | None
    stream: str
    notices: int


@dataclass(frozen=True, slots=True)
class OutboxNotice:
    """A notice row as the dispatcher sees it."""

    id: int
    revision_pk: int
    sink: str
    format: str
    idempotency_key: str
    media_type: str
    filename: str
    payload: bytes
    status: str
    attempt_count: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One delivery attempt, as recorded."""

    number: int
    started_at: datetime
    finished_at: datetime
    ok: bool
    status_code: int | None
    detail: str | None
    duration_s: float


def _notice(row: RowMapping) -> OutboxNotice:
    return OutboxNotice(**{k: row[k] for k in OutboxNotice.__dataclass_fields__})


class OutboxStorage:
    """Revisions with their outbox rows, claims, attempts and retractions."""

    def __init__(self, catalog: CatalogStorage, config: PublishConfig) -> None:
        self.catalog = catalog
        self.engine = catalog.engine
        self.config = config

    # ------------------------------------------------------------- revisions

    def store(self, records: Sequence[NoticeRecord],
              also: Callable[[Connection, list[StoredRevision]], object] | None = None,
              prepare: Callable[[Connection, list[StoredRevision]], object] | None = None,
              ) -> list[StoredRevision]:
        """Store ``records`` and queue their notices in one transaction.

        ``also`` runs in the same transaction after the revisions exist (e.g. to link the
        raw event); ``prepare`` runs after the revisions are written but before their
        notices are rendered (e.g. to store the artifacts the notices link to; its
        revisions have ``notices=0``). A collision of two new alert names (two events of
        the same day named at the same moment) is retried.
        """
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    stored = self.store_in(conn, records, prepare)
                    if also is not None:
                        also(conn, stored)
                    return stored
            except IntegrityError as exc:
                if "uq_events_name" not in str(exc.orig) or attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def store_in(self, conn: Connection, records: Sequence[NoticeRecord],
                 prepare: Callable[[Connection, list[StoredRevision]], object] | None = None,
                 ) -> list[StoredRevision]:
        """:meth:`store` on an open transaction."""
        named = [self._named(conn, rec) for rec in records]
        self.catalog._import(conn, named)
        keys = [rec.source_key for rec in named]
        rows = conn.execute(
            select(revisions.c.id, revisions.c.event_pk, revisions.c.number, revisions.c.kind,
                   revisions.c.stream, revisions.c.ivorn, revisions.c.created_at,
                   events.c.name, events.c.observatory, events.c.run_id, events.c.event_id,
                   events.c.event_time)
            .join(events, events.c.id == revisions.c.event_pk)
            .where(revisions.c.source_key.in_(keys))
            .order_by(revisions.c.event_pk, revisions.c.number)
        ).mappings().all()
        if prepare is not None:
            prepare(conn, [StoredRevision(
                event_pk=r["event_pk"], revision_pk=r["id"], number=r["number"], kind=r["kind"],
                name=r["name"], stream=r["stream"], notices=0) for r in rows])
        stored = []
        for r in rows:
            queued = 0
            if r["stream"] in ALERT_STREAMS:
                if r["ivorn"] is None:
                    ivorn = make_ivorn(self.config.ivorn_base, r["stream"], r["event_time"],
                                       r["run_id"], r["event_id"], r["number"])
                    conn.execute(update(revisions).where(revisions.c.id == r["id"])
                                 .values(ivorn=ivorn))
                queued = self.queue_notices(conn, r["id"])
            stored.append(StoredRevision(
                event_pk=r["event_pk"], revision_pk=r["id"], number=r["number"],
                kind=r["kind"], name=r["name"], stream=r["stream"], notices=queued))
        return stored

    def _named(self, conn: Connection, rec: NoticeRecord) -> NoticeRecord:
        """Give a new alert event its name: ``IceCube-YYMMDD`` + the day's next letter."""
        if rec.name is not None or rec.stream.value not in ALERT_STREAMS:
            return rec
        existing = conn.execute(
            select(events.c.name).where(events.c.observatory == rec.observatory,
                                        events.c.run_id == rec.run_id,
                                        events.c.event_id == rec.event_id)
        ).first()
        if existing is not None:
            return rec  # the event exists; its name (if any) stays
        prefix = f"IceCube-{rec.event_time.astimezone(UTC):%y%m%d}"
        taken = set(conn.execute(
            select(events.c.name).where(events.c.name.like(prefix + "_"))).scalars())
        for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            if prefix + letter not in taken:
                return replace(rec, name=prefix + letter)
        return rec  # 26 alerts in a day: leave it unnamed rather than invent a scheme

    def notice_input(self, conn: Connection, revision_pk: int) -> NoticeInput:
        """What the notices of a stored revision say, read back from the catalog."""
        rev = conn.execute(select(revisions).where(revisions.c.id == revision_pk)
                           ).mappings().one()
        ev = conn.execute(select(events).where(events.c.id == rev["event_pk"])
                          ).mappings().one()
        earlier = conn.execute(
            select(revisions).where(revisions.c.event_pk == rev["event_pk"],
                                    revisions.c.number < rev["number"])
            .order_by(revisions.c.number)
        ).mappings().all()
        shown: RowMapping = rev
        citations: tuple[Citation, ...] = ()
        if rev["kind"] == RevisionKind.RETRACTION.value:
            positioned = [r for r in earlier if r["ra"] is not None]
            if positioned:
                shown = positioned[-1]  # a retraction repeats the position it withdraws
            citations = tuple(Citation(r["ivorn"], "retraction") for r in earlier if r["ivorn"])
        elif earlier and earlier[-1]["ivorn"]:
            citations = (Citation(earlier[-1]["ivorn"], "supersedes"),)
        skymap = None
        if self.config.public_base_url:
            art = conn.execute(select(ARTIFACT_LANDING_KEY, artifacts.c.filename).where(
                artifacts.c.revision_pk == shown["id"], artifacts.c.role == "skymap-fits")
            ).first()
            if art is not None and art[0] is not None:
                skymap = file_url(self.config.public_base_url, art[0], art[1])
        return NoticeInput(
            observatory=ev["observatory"], run_id=ev["run_id"], event_id=ev["event_id"],
            name=ev["name"], stream=rev["stream"], event_time=ev["event_time"],
            revision=rev["number"], kind=rev["kind"],
            issued_at=rev["issued_at"] or rev["created_at"],
            ra=shown["ra"], dec=shown["dec"], r50_deg=shown["r50_deg"],
            r90_deg=shown["r90_deg"], energy_tev=shown["energy_tev"],
            signalness=shown["signalness"], far_per_year=shown["far_per_year"],
            ivorn=rev["ivorn"], citations=citations,
            retraction_reason=rev["retraction_reason"], skymap_url=skymap)

    def queue_notices(self, conn: Connection, revision_pk: int) -> int:
        """Render the revision's notices for every route and insert them (idempotent)."""
        n = self.notice_input(conn, revision_pk)
        rows = []
        rendered: dict[str, Any] = {}
        for route in self.config.routes:
            for fmt in route.formats:
                if fmt not in rendered:
                    rendered[fmt] = render(fmt, n)
                r = rendered[fmt]
                rows.append({
                    "revision_pk": revision_pk, "sink": route.sink, "format": fmt,
                    "idempotency_key": (f"nufair:{n.observatory}:{n.run_id}:{n.event_id}:"
                                        f"r{n.revision}:{route.sink}:{fmt}"),
                    "media_type": r.media_type, "filename": r.filename, "payload": r.payload,
                })
        if not rows:
            return 0
        result = conn.execute(insert(notices).values(rows).on_conflict_do_nothing()
                              .returning(notices.c.id))
        return len(result.all())

    def retract(self, key: str, reason: str) -> StoredRevision:
        """Add a retraction revision to event ``key`` and queue its notices.

        Raises ``NotFound`` for an unknown event and ``Conflict`` when it is already
        retracted. Earlier revisions stay as they are.
        """
        with self.engine.begin() as conn:
            ev = self.catalog.resolve_event(conn, key)
            conn.execute(select(events.c.id).where(events.c.id == ev["id"]).with_for_update())
            if ev["cur_kind"] == RevisionKind.RETRACTION.value:
                raise Conflict(f"event {key!r} is already retracted",
                               details={"event": key})
            rec = NoticeRecord(
                observatory=ev["observatory"], run_id=ev["run_id"], event_id=ev["event_id"],
                name=ev["name"], stream=Stream(ev["stream"]), event_time=ev["event_time"],
                kind=RevisionKind.RETRACTION, source=Source.OPERATOR, source_rev=None,
                source_key=f"operator:retraction:{ev['observatory']}:{ev['run_id']}:"
                           f"{ev['event_id']}",
                issued_at=datetime.now(UTC), retraction_reason=reason)
            return self.store_in(conn, [rec])[0]

    # ------------------------------------------------------------- dispatch

    def claim_due(self, sinks: Collection[str], limit: int, lease_s: float) -> list[OutboxNotice]:
        """Claim up to ``limit`` due notices for ``sinks``, oldest first.

        ``FOR UPDATE SKIP LOCKED`` lets several dispatchers share the outbox; the claim
        pushes ``next_attempt_at`` out by ``lease_s`` so that a dispatcher that dies
        mid-send leaves the notice to be claimed again once the lease has run out.
        """
        if not sinks:
            return []
        due = (select(notices.c.id)
               .where(notices.c.status == "pending", notices.c.next_attempt_at <= func.now(),
                      notices.c.sink.in_(list(sinks)))
               .order_by(notices.c.next_attempt_at, notices.c.id)
               .limit(limit).with_for_update(skip_locked=True))
        stmt = (update(notices).where(notices.c.id.in_(due.scalar_subquery()))
                .values(next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0,
                                                                        lease_s))
                .returning(*notices.c))
        with self.engine.begin() as conn:
            rows = conn.execute(stmt).mappings().all()
        return sorted((_notice(r) for r in rows), key=lambda n: n.id)

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
                   ) -> list[OutboxNotice]:
        stmt = select(notices).order_by(notices.c.id)
        if revision_pk is not None:
            stmt = stmt.where(notices.c.revision_pk == revision_pk)
        if event_pk is not None:
            stmt = stmt.join(revisions, and_(revisions.c.id == notices.c.revision_pk,
                                             revisions.c.event_pk == event_pk))
        with self.engine.connect() as conn:
            return [_notice(r) for r in conn.execute(stmt).mappings()]

    def attempts_of(self, notice_pk: int) -> list[AttemptRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(notice_attempts).where(notice_attempts.c.notice_pk == notice_pk)
                .order_by(notice_attempts.c.number)).mappings().all()
        return [AttemptRow(**{k: r[k] for k in AttemptRow.__dataclass_fields__}) for r in rows]

    def pending_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(notices)
                                    .where(notices.c.status == "pending")).scalar_one())

    def database_now(self) -> datetime:
        with self.engine.connect() as conn:
            return cast(datetime, conn.execute(select(func.now())).scalar_one())

