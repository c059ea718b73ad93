"""The reads of the FAIR pages that must answer in milliseconds: one DCAT catalogue page of
alerts with their DOIs and versions, in one statement; and the stored notices of an event.

A catalogue page is the alerts that have a concept DOI, newest first (``event_time``, then
``id``, descending), ``size`` a page. It starts either after a given alert (keyset: the
``next`` links carry the last alert of the page, so a harvest walking them reads ``size``
rows a page however deep it goes) or at an offset (a page asked for by number). Both walk
``ix_events_event_time_id`` backwards and probe ``uq_dois_concept`` per event, index-only;
the offset costs one probe per skipped alert (~10⁴ at most), never a sort of the archive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    func,
    literal,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Engine

from catalog.schema.events import events, revisions
from catalog.schema.outbox import notices
from catalog.schema.pids import dois


@dataclass(frozen=True, slots=True)
class PageVersion:
    """A version DOI of a page's alert, with what its DCAT description names."""

    doi: str
    suffix: str
    number: int
    kind: str
    issued: str
    updated: str
    ra: float | None
    dec: float | None


@dataclass(frozen=True, slots=True)
class PageAlert:
    """An alert of a catalogue page: the event, its concept DOI and its versions (oldest
    first). ``withdrawn_at`` is set when the alert was retracted; ``key`` (the event's
    primary key) is the page cursor that starts the next page after this alert. Times (here
    and in :class:`PageVersion`) are ISO 8601 in UTC to the second with a ``Z``, as the
    DCAT writes them (:func:`catalog.fair.describe.iso`), formatted by PostgreSQL."""

    key: int
    name: str | None
    observatory: str
    run_id: int
    event_id: int
    stream: str
    event_time: str
    doi: str
    suffix: str
    updated: str
    withdrawn_at: str | None
    versions: tuple[PageVersion, ...]


def _iso(t: ColumnElement[datetime]) -> ColumnElement[str]:
    """``t`` as :func:`catalog.fair.describe.iso` writes it, by PostgreSQL (formatting 500
    datetimes a page in Python took ~1.5 ms)."""
    return func.to_char(func.timezone("UTC", t), 'YYYY-MM-DD"T"HH24:MI:SS"Z"',
                        type_=Text)


#: The concept kind written into the SQL, not bound: only a literal lets PostgreSQL use the
#: partial index ``uq_dois_concept`` in the generic plan of a prepared statement (psycopg
#: prepares a statement run five times). The page size is written in for the same reason:
#: bound, the generic plan cannot know the page is ~100 rows and joins by hashing every
#: event.
_CONCEPT = literal("concept", literal_execute=True)


def _page_statement(*, keyset: bool, probe: bool) -> Select[Any]:
    """The page read: the chosen events, their columns, concept DOI and versions (one JSON
    array each), newest first.

    Parameters: ``size``, and ``after`` (an event's primary key: the page starts after it,
    ``keyset``) or ``skip`` (an offset). ``probe``: keep only events with a concept DOI by
    probing ``uq_dois_concept`` while walking the index (one probe per event walked); without
    it the walk skips index entries only, which is exact when every event has one.
    """
    e, cursor = events.alias("e"), events.alias("cursor")
    chosen = (select(e.c.id, e.c.event_time).order_by(e.c.event_time.desc(), e.c.id.desc())
              .limit(bindparam("size", type_=Integer, literal_execute=True)))
    if probe:
        has = dois.alias("has")
        # OFFSET 0 keeps PostgreSQL from flattening the probe into a semi-join, which it
        # plans as a hash join over every event and concept DOI then a sort (40-60 ms at
        # 10⁴ alerts, loaded): as a lateral subquery it stays an index probe per event.
        chosen = chosen.join(select(literal(1)).select_from(has)
                             .where(has.c.event_pk == e.c.id, has.c.kind == _CONCEPT)
                             .offset(literal(0, literal_execute=True)).lateral("has"), true())
    if keyset:
        # The cursor's own key as a row bound: an index condition of the backward walk
        # (NULL, so no row, when the cursor names no event).
        after = bindparam("after", type_=BigInteger)
        start = select(cursor.c.event_time).where(cursor.c.id == after).scalar_subquery()
        chosen = chosen.where(tuple_(e.c.event_time, e.c.id) < tuple_(start, after))
    else:
        chosen = chosen.offset(bindparam("skip", type_=Integer))
    page = chosen.cte("page")
    version = dois.alias("version")
    versions = (
        select(func.json_agg(aggregate_order_by(func.json_build_array(
            version.c.doi, version.c.suffix, revisions.c.number, revisions.c.kind,
            _iso(func.coalesce(revisions.c.issued_at, revisions.c.created_at)),
            _iso(version.c.updated_at), revisions.c.ra, revisions.c.dec), revisions.c.number)))
        .select_from(revisions.join(version, version.c.revision_pk == revisions.c.id))
        .where(revisions.c.event_pk == events.c.id).scalar_subquery())
    return (select(events.c.id, events.c.name, events.c.observatory, events.c.run_id,
                   events.c.event_id, events.c.stream, _iso(events.c.event_time).label("event_t"),
                   dois.c.doi, dois.c.suffix, _iso(dois.c.updated_at).label("updated"),
                   _iso(dois.c.withdrawn_at).label("withdrawn"),
                   versions.label("versions"))
            .select_from(page.join(events, events.c.id == page.c.id).join(
                dois, and_(dois.c.event_pk == events.c.id, dois.c.kind == _CONCEPT)))
            .order_by(page.c.event_time.desc(), page.c.id.desc()))


#: The page statements, built once (SQLAlchemy reuses their compiled form): by cursor; by
#: offset over every event; by offset over the events with a concept DOI.
_BY_CURSOR = _page_statement(keyset=True, probe=True)
_BY_OFFSET = _page_statement(keyset=False, probe=False)
_BY_OFFSET_PROBED = _page_statement(keyset=False, probe=True)
#: The alerts of the catalogue (events with a concept DOI) and the events: equal when
#: every event has its concept DOI (minting runs in the ingest's transaction; a bulk import
#: leaves events without one until ``mint_missing``). Both counts are index-only scans.
_COUNTS = select(
    select(func.count()).select_from(dois).where(dois.c.kind == _CONCEPT).scalar_subquery(),
    select(func.count()).select_from(events).scalar_subquery())


def _versions(raw: list[list[Any]] | None) -> tuple[PageVersion, ...]:
    return tuple(PageVersion(doi=doi, suffix=suffix, number=number, kind=kind,
                             issued=issued, updated=updated, ra=ra, dec=dec)
                 for doi, suffix, number, kind, issued, updated, ra, dec in raw or ())


@dataclass(frozen=True, slots=True)
class PageRead:
    """A catalogue page as read: its alerts, the number of alerts in the catalogue, and
    whether any alert follows the page's last (read, not inferred from the count, so that a
    page reached by cursor knows it too)."""

    alerts: list[PageAlert]
    total: int
    more: bool


def catalog_page(engine: Engine, page: int, size: int, after: int | None = None) -> PageRead:
    """The alerts of a catalogue page (``size`` a page, newest first) that have a concept
    DOI. The page starts after the alert whose event key is ``after`` when given, else at
    page number ``page`` (one-based).

    Two statements in one snapshot (the counts, then the page and one row more).
    """
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            alerts_n, events_n = conn.execute(_COUNTS).one()
            if after is not None:
                stmt, params = _BY_CURSOR, {"size": size + 1, "after": after}
            else:
                stmt = _BY_OFFSET if alerts_n == events_n else _BY_OFFSET_PROBED
                params = {"size": size + 1, "skip": (page - 1) * size}
            rows = conn.execute(stmt, params).all()
    alerts = [PageAlert(key=r.id, name=r.name, observatory=r.observatory, run_id=r.run_id,
                        event_id=r.event_id, stream=r.stream, event_time=r.event_t,
                        doi=r.doi, suffix=r.suffix, updated=r.updated,
                        withdrawn_at=r.withdrawn, versions=_versions(r.versions))
              for r in rows[:size]]
    return PageRead(alerts, int(alerts_n), len(rows) > size)


@dataclass(frozen=True, slots=True)
class StoredNotice:
    """A notice the pipeline made for a revision (one per format: the bytes every sink got)."""

    id: int
    revision_number: int
    format: str
    filename: str
    media_type: str
    size: int


def notices_of_event(engine: Engine, event_pk: int) -> list[StoredNotice]:
    """The stored notices of an event's revisions, one per (revision, format), by revision."""
    joined = notices.join(revisions, revisions.c.id == notices.c.revision_pk)
    first = (select(func.min(notices.c.id)).select_from(joined)
             .where(revisions.c.event_pk == event_pk)
             .group_by(notices.c.revision_pk, notices.c.format))
    stmt = (select(notices.c.id, revisions.c.number, notices.c.format, notices.c.filename,
                   notices.c.media_type, func.length(notices.c.payload).label("size"))
            .select_from(joined).where(notices.c.id.in_(first)))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return sorted((StoredNotice(r.id, r.number, r.format, r.filename, r.media_type, r.size)
                   for r in rows), key=lambda n: (n.revision_number, n.format))


def notice_bytes(engine: Engine, event_pk: int, notice_id: int
                 ) -> tuple[StoredNotice, bytes] | None:
    """A stored notice of event ``event_pk`` and its exact bytes; None if it has no such."""
    stmt = (select(notices.c.id, revisions.c.number, notices.c.format, notices.c.filename,
                   notices.c.media_type, notices.c.payload)
            .select_from(notices.join(revisions, revisions.c.id == notices.c.revision_pk))
            .where(notices.c.id == notice_id, revisions.c.event_pk == event_pk))
    with engine.connect() as conn:
        r = conn.execute(stmt).first()
    if r is None:
        return None
    payload = bytes(r.payload)
    return (StoredNotice(r.id, r.number, r.format, r.filename, r.media_type, len(payload)),
            payload)
