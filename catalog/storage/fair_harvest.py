"""The SQL of harvesting: OAI-PMH pages over the DOIs and the aliased DOIs, and the aliased
DOIs whose provider must hear of their merge.

An aliased DOI (``doi_aliases``: its record was merged into another's when two stored
events turned out to be one) is no longer an item of its own. OAI-PMH says how a repository
tells harvesters that an item is gone: a header with ``status="deleted"``, kept for as long
as the repository declares (``deletedRecord=persistent``: aliases are never removed). So a
page is the union of both tables in one keyset order, (datestamp, table, id): the DOIs
(table 0) and the aliases (table 1), whose datestamp is the time of the merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, exists, func, literal, select, tuple_, union_all
from sqlalchemy.engine import Connection

from catalog.schema.events import events, revisions
from catalog.schema.pids import DoiRead, doi_aliases, dois

#: The keyset position of a harvest page's last item: (datestamp, table, id), table 0 for
#: ``dois`` and 1 for ``doi_aliases``.
Position = tuple[datetime, int, int]


@dataclass(frozen=True, slots=True)
class HarvestItem:
    """A DOI as a harvestable item: the DOI row and the event's set memberships."""

    doi: DoiRead
    stream: str
    in_icecat1: bool


@dataclass(frozen=True, slots=True)
class DeletedItem:
    """An aliased DOI as a harvestable item: a deleted record.

    ``suffix`` and ``updated_at`` (the merge) are the alias's own; ``target`` is the DOI its
    record was merged into, whose event gives the set memberships (``stream``,
    ``in_icecat1``; ``status:retracted`` when the target is withdrawn).
    """

    alias_pk: int
    doi: str
    suffix: str
    updated_at: datetime
    target: DoiRead
    stream: str
    in_icecat1: bool
    reason: str = ""
    state: str = "findable"
    registered_at: datetime | None = None

    def as_doi(self) -> DoiRead:
        """The aliased DOI as a DOI of the record it resolves to: the target's row with
        the alias's own DOI, suffix, provider state and dates."""
        return self.target.model_copy(update={
            "id": self.alias_pk, "doi": self.doi, "suffix": self.suffix, "state": self.state,
            "registered_at": self.registered_at, "updated_at": self.updated_at})

    @property
    def position(self) -> Position:
        """Where a page that ends with this item ends."""
        return (self.updated_at, 1, self.alias_pk)


def position(item: HarvestItem | DeletedItem) -> Position:
    """The keyset position of ``item``."""
    if isinstance(item, DeletedItem):
        return item.position
    return (item.doi.updated_at, 0, item.doi.id)


def doi_select() -> Select[tuple[object, ...]]:
    """The DOIs as :class:`DoiRead` rows (with the number of the revision each names)."""
    return (select(dois, revisions.c.number.label("revision_number"))
            .select_from(dois.outerjoin(revisions, revisions.c.id == dois.c.revision_pk)))


_R_ICECAT = revisions.alias("r_icecat")
#: The event has a revision from IceCat-1 (aliased: the outer query may join revisions too).
ICECAT = exists().where(_R_ICECAT.c.event_pk == events.c.id, _R_ICECAT.c.source == "icecat-1")


def set_condition(set_spec: str) -> ColumnElement[bool]:
    """SQL condition of an OAI set (``ValueError`` for a set that does not exist)."""
    kind, _, value = set_spec.partition(":")
    if kind == "stream" and value in ("gold", "bronze", "cascade", "hese", "ehe"):
        return events.c.stream == value
    if set_spec == "catalog:icecat1":
        return ICECAT
    if set_spec == "status:retracted":
        return dois.c.withdrawn_at.is_not(None)
    raise ValueError(set_spec)


def earliest_datestamp(conn: Connection) -> datetime | None:
    """The oldest datestamp of any item, DOI or alias (OAI-PMH ``earliestDatestamp``)."""
    value: datetime | None = conn.execute(select(func.least(
        select(func.min(dois.c.updated_at)).scalar_subquery(),
        select(func.min(doi_aliases.c.updated_at)).scalar_subquery()))).scalar()
    return value


def harvest_page(conn: Connection, *, since: datetime | None, until: datetime | None,
                 set_spec: str | None, after: Position | None, limit: int
                 ) -> list[HarvestItem | DeletedItem]:
    """Items (DOIs and aliased DOIs) by (datestamp, table, id), filtered by datestamp range
    and OAI set.

    ``until`` is inclusive (OAI-PMH), ``after`` is the keyset position of the previous page.
    An alias is in the sets of the DOI it resolves to.
    """
    def keyed(table: int, stamp: ColumnElement[datetime], pk: ColumnElement[int],
              stmt: Select[tuple[object, ...]]) -> Select[tuple[object, ...]]:
        stmt = stmt.add_columns(literal(table).label("t"), stamp.label("stamp"),
                                pk.label("pk"))
        if since is not None:
            stmt = stmt.where(stamp >= since)
        if until is not None:
            stmt = stmt.where(stamp <= until)
        if set_spec is not None:
            stmt = stmt.where(set_condition(set_spec))
        return stmt

    live = keyed(0, dois.c.updated_at, dois.c.id, select().select_from(
        dois.join(events, events.c.id == dois.c.event_pk)))
    gone = keyed(1, doi_aliases.c.updated_at, doi_aliases.c.id, select().select_from(
        doi_aliases.join(dois, dois.c.id == doi_aliases.c.target_pk)
        .join(events, events.c.id == dois.c.event_pk)))
    both = union_all(live, gone).subquery("items")
    page = select(both.c.t, both.c.pk)
    if after is not None:
        page = page.where(tuple_(both.c.stamp, both.c.t, both.c.pk)
                          > tuple_(literal(after[0]), literal(after[1]), literal(after[2])))
    keys = conn.execute(page.order_by(both.c.stamp, both.c.t, both.c.pk).limit(limit)).all()
    found = _live_items(conn, [pk for t, pk in keys if t == 0])
    found |= {(1, item.alias_pk): item
              for item in deleted_items(conn, [pk for t, pk in keys if t == 1])}
    return [found[(t, pk)] for t, pk in keys]


def _live_items(conn: Connection, pks: list[int]
                ) -> dict[tuple[int, int], HarvestItem | DeletedItem]:
    if not pks:
        return {}
    rows = conn.execute(doi_select().add_columns(events.c.stream.label("event_stream"),
                                                 ICECAT.label("in_icecat1"))
                        .join(events, events.c.id == dois.c.event_pk)
                        .where(dois.c.id.in_(pks))).mappings().all()
    return {(0, r["id"]): HarvestItem(doi=DoiRead.model_validate(r), stream=r["event_stream"],
                                      in_icecat1=r["in_icecat1"]) for r in rows}


def deleted_items(conn: Connection, pks: list[int] | None = None, suffix: str | None = None,
                  ) -> list[DeletedItem]:
    """The aliases of ids ``pks`` (or the one of ``suffix``) as deleted items."""
    a = doi_aliases.c
    stmt = (doi_select().add_columns(a.id.label("alias_pk"), a.doi.label("alias_doi"),
                                     a.suffix.label("alias_suffix"),
                                     a.updated_at.label("alias_updated_at"),
                                     a.reason.label("alias_reason"),
                                     a.state.label("alias_state"),
                                     a.registered_at.label("alias_registered_at"),
                                     events.c.stream.label("event_stream"),
                                     ICECAT.label("in_icecat1"))
            .join(doi_aliases, a.target_pk == dois.c.id)
            .join(events, events.c.id == dois.c.event_pk))
    if pks is not None:
        if not pks:
            return []
        stmt = stmt.where(a.id.in_(pks))
    if suffix is not None:
        stmt = stmt.where(a.suffix == suffix.lower())
    return [DeletedItem(alias_pk=r["alias_pk"], doi=r["alias_doi"], suffix=r["alias_suffix"],
                        updated_at=r["alias_updated_at"], target=DoiRead.model_validate(r),
                        stream=r["event_stream"], in_icecat1=r["in_icecat1"],
                        reason=r["alias_reason"], state=r["alias_state"],
                        registered_at=r["alias_registered_at"])
            for r in conn.execute(stmt.order_by(a.id)).mappings()]


def deleted_item(conn: Connection, suffix: str) -> DeletedItem | None:
    """The aliased DOI with this suffix (any case) as a deleted item, if there is one."""
    found = deleted_items(conn, suffix=suffix)
    return found[0] if found else None
