"""DataLink reads: the revision, the stored files and the regions of an alert.

SQLAlchemy Core expressions on the catalog's tables, run in the read-only, time-limited
transaction :meth:`vo.storage.VoStorage` opens; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlmodel import Field

from catalog.schema.base import Entity
from catalog.schema.events import artifacts, events, region_tiles, revisions
from catalog.schema.outbox import notices
from catalog.schema.pids import dois
from catalog.storage.fair import ArtifactRead, artifacts_select

#: (alert id, revision number or None for the current revision).
DatasetKey = tuple[int, int | None]


class NoticeLink(Entity):
    """A notice made for a revision (one per format: the bytes every sink got)."""

    id: int
    format: str
    filename: str
    media_type: str
    size: int


class Dataset(Entity):
    """One alert revision: what DataLink needs to list its links. ``version_key`` and
    ``concept_key`` are the DOI suffixes of its landing pages (None while not minted)."""

    alert_id: int
    name: str | None
    revision: int
    revision_pk: int
    ivorn: str | None
    has_moc: dict[int, bool]
    artifacts: list[ArtifactRead]
    version_key: str | None = None
    concept_key: str | None = None
    notices: list[NoticeLink] = Field(default_factory=list)


def read_datasets(conn: Connection, keys: Sequence[DatasetKey]
                  ) -> dict[DatasetKey, Dataset | None]:
    """The revision (or current revision when None) and artifacts of each (event, rev)."""
    return {key: read_dataset(conn, *key) for key in keys}


def read_dataset(conn: Connection, alert_id: int, number: int | None) -> Dataset | None:
    """The revision ``number`` (the current one when None) of an alert, with its files."""
    stmt = (select(events.c.id, events.c.name, revisions.c.id.label("rpk"),
                   revisions.c.number, revisions.c.ivorn,
                   revisions.c.r50_deg, revisions.c.r90_deg)
            .join(revisions, revisions.c.event_pk == events.c.id)
            .where(events.c.id == alert_id))
    if number is None:
        stmt = stmt.where(revisions.c.id == events.c.current_revision_pk)
    else:
        stmt = stmt.where(revisions.c.number == number)
    row = conn.execute(stmt).first()
    if row is None:
        return None
    arts = conn.execute(
        artifacts_select()
        .where(artifacts.c.event_pk == alert_id,
               (artifacts.c.revision_pk == row.rpk)
               | artifacts.c.revision_pk.is_(None))
        .order_by(artifacts.c.role)).mappings()
    keys = {(r.kind, r.revision_pk): r.suffix for r in conn.execute(
        select(dois.c.kind, dois.c.revision_pk, dois.c.suffix)
        .where(dois.c.event_pk == alert_id,
               (dois.c.revision_pk == row.rpk) | (dois.c.kind == "concept")))}
    return Dataset(
        alert_id=row.id, name=row.name, revision=row.number, revision_pk=row.rpk,
        ivorn=row.ivorn, has_moc={50: row.r50_deg is not None, 90: row.r90_deg is not None},
        artifacts=[ArtifactRead.model_validate(a) for a in arts],
        version_key=keys.get(("version", row.rpk)), concept_key=keys.get(("concept", None)),
        notices=read_notices(conn, row.rpk))


def read_notices(conn: Connection, revision_pk: int) -> list[NoticeLink]:
    """The notices made for a revision, one per format (the first one queued), by format."""
    first = (select(func.min(notices.c.id)).where(notices.c.revision_pk == revision_pk)
             .group_by(notices.c.format))
    stmt = (select(notices.c.id, notices.c.format, notices.c.filename, notices.c.media_type,
                   func.octet_length(notices.c.payload).label("size"))
            .where(notices.c.id.in_(first)).order_by(notices.c.format))
    return [NoticeLink(id=r.id, format=r.format, filename=r.filename,
                       media_type=r.media_type, size=r.size) for r in conn.execute(stmt)]


def read_moc_ranges(conn: Connection, alert_id: int, number: int | None,
                    level: int) -> list[list[int]]:
    """Order-29 index ranges of the ``level`` % region of a revision (current when None)."""
    rev = select(revisions.c.id).join(events, events.c.id == revisions.c.event_pk).where(
        events.c.id == alert_id)
    rev = rev.where(revisions.c.id == events.c.current_revision_pk) if number is None \
        else rev.where(revisions.c.number == number)
    stmt = (select(func.lower(region_tiles.c.hpx), func.upper(region_tiles.c.hpx))
            .where(region_tiles.c.revision_pk == rev.scalar_subquery(),
                   region_tiles.c.level == level)
            .order_by(func.lower(region_tiles.c.hpx)))
    return [[int(a), int(b)] for a, b in conn.execute(stmt)]
