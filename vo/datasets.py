"""DataLink reads: the revision, the stored files and the regions of an alert.

SQLAlchemy Core expressions on the catalog's tables, run in the read-only, time-limited
transaction :meth:`vo.storage.VoStorage` opens; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from catalog.schema.events import artifacts, events, region_tiles, revisions
from catalog.storage.fair import ARTIFACT_LANDING_KEY

#: (alert id, revision number or None for the current revision).
DatasetKey = tuple[int, int | None]


@dataclass(frozen=True, slots=True)
class ArtifactRow:
    """A stored file of a revision (or of the event as a whole), as DataLink links it."""

    id: int
    role: str
    filename: str
    media_type: str
    size_bytes: int
    storage_url: str
    revision: int | None
    landing_key: str | None


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """One alert revision: what DataLink needs to list its links."""

    alert_id: int
    name: str | None
    revision: int
    revision_pk: int
    ivorn: str | None
    has_moc: dict[int, bool]
    artifacts: list[ArtifactRow]


def read_datasets(conn: Connection, keys: Sequence[DatasetKey]
                  ) -> dict[DatasetKey, DatasetRow | None]:
    """The revision (or current revision when None) and artifacts of each (event, rev)."""
    return {key: read_dataset(conn, *key) for key in keys}


def read_dataset(conn: Connection, alert_id: int, number: int | None) -> DatasetRow | None:
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
        select(artifacts.c.id, artifacts.c.role, artifacts.c.filename,
               artifacts.c.media_type,
               artifacts.c.size_bytes, artifacts.c.storage_url,
               revisions.c.number, ARTIFACT_LANDING_KEY.label("landing_key"))
        .outerjoin(revisions, revisions.c.id == artifacts.c.revision_pk)
        .where(artifacts.c.event_pk == alert_id,
               (artifacts.c.revision_pk == row.rpk)
               | artifacts.c.revision_pk.is_(None))
        .order_by(artifacts.c.role)).all()
    return DatasetRow(
        row.id, row.name, row.number, row.rpk, row.ivorn,
        {50: row.r50_deg is not None, 90: row.r90_deg is not None},
        [ArtifactRow(a.id, a.role, a.filename, a.media_type, a.size_bytes,
                     a.storage_url, a.number, a.landing_key) for a in arts])


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
