"""Finding events with their current revision joined, as :class:`EventCurrentRead`.

One event by name, ``run_event`` or id (:func:`resolve_event`), or a page of them
(:func:`event_select` then :func:`read_events`). Shared by the reads of
:mod:`catalog.storage.events` and the writes of :mod:`catalog.storage.revisions` (a
retraction locks the event it resolves). The joined row becomes the read model here and
nowhere else (:func:`_read`).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection, RowMapping

from catalog.errors import NotFound
from catalog.schema.events import EventCurrentRead, RevisionRead, events, revisions

#: Largest PostgreSQL bigint.
BIGINT_MAX = 2**63 - 1

_RUN_EVENT = re.compile(r"^(\d+)[_:](\d+)$")
_ICECAT_NAME = re.compile(r"^IC(\d{6}[A-Z])$")

#: Prefix of the current revision's columns in :func:`event_select`.
_CUR = "cur_"


def event_select(cur: Any) -> Select[Any]:
    """Events with their revision count and, as ``cur_*`` columns, the current revision
    ``cur`` (an alias of ``revisions``): filter and order it, then :func:`read_events`."""
    count = (select(func.count()).where(revisions.c.event_pk == events.c.id)
             .scalar_subquery().label("revision_count"))
    return (
        select(events, count, *[c.label(f"{_CUR}{c.key}") for c in cur.c])
        .select_from(events.outerjoin(cur, cur.c.id == events.c.current_revision_pk))
    )


def _read(row: RowMapping) -> EventCurrentRead:
    """The read model of one row of :func:`event_select`."""
    current = None
    if row[f"{_CUR}id"] is not None:
        n = len(_CUR)
        current = RevisionRead.model_validate(
            {k[n:]: v for k, v in row.items() if k.startswith(_CUR)})
    return EventCurrentRead.model_validate({**row, "current": current})


def read_events(conn: Connection, stmt: Select[Any]) -> list[EventCurrentRead]:
    """The events a statement built on :func:`event_select` finds, in its order."""
    return [_read(r) for r in conn.execute(stmt).mappings()]


def resolve_event(conn: Connection, key: str) -> EventCurrentRead:
    """The event of ``key`` (a name, IceCube-200615A or IC200615A; run_event; or id) with
    its current revision; ``NotFound`` if none."""
    cur = revisions.alias("cur")
    stmt = event_select(cur)
    m = _RUN_EVENT.match(key)
    if any(int(n) > BIGINT_MAX for n in re.findall(r"\d+", key) if n.isdigit()):
        raise NotFound(f"no event {key!r}", details={"event": key})  # no bigint is that big
    if m:
        stmt = stmt.where(events.c.run_id == int(m.group(1)),
                          events.c.event_id == int(m.group(2)))
    elif key.isdigit():
        stmt = stmt.where(events.c.id == int(key))
    else:
        ic = _ICECAT_NAME.match(key)
        name = f"IceCube-{ic.group(1)}" if ic else key
        stmt = stmt.where(func.lower(events.c.name) == name.lower())
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFound(f"no event {key!r}", details={"event": key})
    return _read(row)
