"""The reads of the FAIR pages that must answer in milliseconds: one DCAT catalogue page of
alerts with their DOIs and versions, in two statements (the page, and the count).

A page is keyed by its number (offset paging over ``ix_events_event_time_id``): harvesters
ask for page numbers, and at the archive's size (10⁴ alerts) the offset costs well under a
millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
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
    issued: datetime
    updated: datetime
    ra: float | None
    dec: float | None


@dataclass(frozen=True, slots=True)
class PageAlert:
    """An alert of a catalogue page: the event, its concept DOI and its versions (oldest
    first). ``withdrawn_at`` is set when the alert was retracted."""

    name: str | None
    observatory: str
    run_id: int
    event_id: int
    stream: str
    event_time: datetime
    doi: str
    suffix: str
    updated: datetime
    withdrawn_at: datetime | None
    versions: tuple[PageVersion, ...]


def _versions(raw: list[dict[str, Any]] | None) -> tuple[PageVersion, ...]:
    return tuple(PageVersion(doi=v["doi"], suffix=v["suffix"], number=v["number"],
                             kind=v["kind"], issued=datetime.fromisoformat(v["issued"]),
                             updated=datetime.fromisoformat(v["updated"]), ra=v["ra"],
                             dec=v["dec"]) for v in raw or ())


def catalog_page(engine: Engine, page: int, size: int) -> tuple[list[PageAlert], int]:
    """The alerts of page ``page`` (one-based, ``size`` a page, newest first) that have a
    concept DOI, and how many such alerts there are."""
    concept = dois.alias("concept")
    version = dois.alias("version")
    versions = (
        select(func.json_agg(aggregate_order_by(func.json_build_object(
            "doi", version.c.doi, "suffix", version.c.suffix, "number", revisions.c.number,
            "kind", revisions.c.kind,
            "issued", func.coalesce(revisions.c.issued_at, revisions.c.created_at),
            "updated", version.c.updated_at, "ra", revisions.c.ra, "dec", revisions.c.dec,
        ), revisions.c.number)))
        .select_from(version.join(revisions, revisions.c.id == version.c.revision_pk))
        .where(version.c.event_pk == events.c.id, version.c.kind == "version")
        .correlate(events).scalar_subquery())
    # The page's events first (index order, offset), so that the versions are gathered for
    # the page's rows only, never for the rows the offset skips.
    chosen = (select(events.c.id).select_from(events.join(
                  concept, and_(concept.c.event_pk == events.c.id, concept.c.kind == "concept")))
              .order_by(events.c.event_time.desc(), events.c.id.desc())
              .limit(size).offset((page - 1) * size).subquery())
    stmt = (select(events.c.name, events.c.observatory, events.c.run_id, events.c.event_id,
                   events.c.stream, events.c.event_time, concept.c.doi, concept.c.suffix,
                   concept.c.updated_at, concept.c.withdrawn_at, versions.label("versions"))
            .select_from(chosen.join(events, events.c.id == chosen.c.id).join(
                concept, and_(concept.c.event_pk == events.c.id, concept.c.kind == "concept")))
            .order_by(events.c.event_time.desc(), events.c.id.desc()))
    total_stmt = select(func.count()).select_from(dois).where(dois.c.kind == "concept")
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
        total = int(conn.execute(total_stmt).scalar_one())
    alerts = [PageAlert(name=r["name"], observatory=r["observatory"], run_id=r["run_id"],
                        event_id=r["event_id"], stream=r["stream"], event_time=r["event_time"],
                        doi=r["doi"], suffix=r["suffix"], updated=r["updated_at"],
                        withdrawn_at=r["withdrawn_at"], versions=_versions(r["versions"]))
              for r in rows]
    return alerts, total


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
