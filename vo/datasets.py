"""DataLink reads: the revision, the stored files and the regions of an alert.

SQLAlchemy Core expressions on the catalog's tables, run in the read-only, time-limited
transaction :meth:`vo.storage.VoStorage` opens; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from catalog.schema.base import Entity
from catalog.schema.events import artifacts, events, region_tiles, revisions
from catalog.storage.fair import ArtifactRead, artifacts_select

#: (alert id, revision number or None for the current revision).
DatasetKey = tuple[int, int | None]


class Dataset(Entity):
    """One alert revision: what DataLink needs to list its links."""

    alert_id: int
    name: str | None
    revision: int
    revision_pk: int
    ivorn: str | None
    has_moc: dict[int, bool]
    artifacts: list[ArtifactRead]


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
    return Dataset(
        alert_id=row.id, name=row.name, revision=row.number, revision_pk=row.rpk,
        ivorn=row.ivorn, has_moc={50: row.r50_deg is not None, 90: row.r90_deg is not None},
        artifacts=[ArtifactRead.model_validate(a) for a in arts])


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
