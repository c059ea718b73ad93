"""What a landing page shows of a revision's counterpart candidates (``counterparts.html``).

:func:`landing_context` reads the stored candidates of one revision and shapes them for the
partial template: one row per source of the 90 % region (blazar classes first, then
position before ellipse, then by distance), marked when it also meets the 50 % region.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from catalog.counterparts.models import CounterpartPublic
from catalog.counterparts.registry import catalogues
from catalog.schema.events import revisions
from catalog.storage.counterparts import CounterpartStore


@dataclass(frozen=True, slots=True)
class CounterpartRow:
    """One source on the page: the 90 % candidate, and whether it meets the 50 % region."""

    item: CounterpartPublic
    in50: bool


@dataclass(frozen=True, slots=True)
class CounterpartsView:
    """The partial's data: the rows, and the catalogues searched (for the caption)."""

    rows: tuple[CounterpartRow, ...]
    catalogues: tuple[str, ...]
    revision: int

    @property
    def blazars(self) -> int:
        """How many rows are of a blazar class."""
        return sum(r.item.blazar for r in self.rows)


def view_of(items: list[CounterpartPublic], revision: int) -> CounterpartsView:
    """The rows of the page from a revision's candidates (both levels)."""
    in50 = {(c.catalogue, c.source_name) for c in items if c.level == 50}
    rows = tuple(CounterpartRow(c, (c.catalogue, c.source_name) in in50)
                 for c in items if c.level == 90)
    return CounterpartsView(rows, tuple(c.label for c in catalogues()), revision)


def landing_context(engine: Engine, event_pk: int, number: int) -> CounterpartsView:
    """The counterparts of revision ``number`` of event ``event_pk``, for the page."""
    with engine.connect() as conn:
        pk = conn.execute(select(revisions.c.id).where(
            revisions.c.event_pk == event_pk, revisions.c.number == number)).scalar()
        items = CounterpartStore(conn).for_revision(pk) if pk is not None else []
    return view_of(items, number)
