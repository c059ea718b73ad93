"""Counterpart candidates of a revision: catalogued sources inside its error region.

One row per (revision, catalogue, containment level, source). ``match`` says how the source
meets the region: ``position`` (its catalogued position lies in the region) or ``ellipse``
(only its error ellipse overlaps the region). The rows are recomputed whenever a revision's
region changes (a scan's revision 1 replaces the tiles), by
:class:`catalog.storage.counterparts.CounterpartStore`. The source's position, class and
association are copied from the catalogue so that the landing page, REST and the circular
read one table.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, CheckConstraint, Double, SmallInteger, Text, UniqueConstraint

from catalog.schema.base import Entity, Keyed, column, one_of, set_now, table_of

__all__ = ["MATCHES", "Counterpart", "CounterpartBase", "counterparts"]

#: How a source meets a region: its position lies inside, or only its error ellipse overlaps.
MATCHES = ("position", "ellipse")


class CounterpartBase(Entity):
    """A catalogued source that lies in (or whose error ellipse overlaps) a region."""

    revision_pk: int = column(BigInteger, foreign_key="revisions.id", ondelete="CASCADE")
    catalogue: str = column(Text, comment="catalogue key of the registry, e.g. 4fgl-dr4")
    source_name: str = column(Text, comment="the source's name in its catalogue")
    level: int = column(SmallInteger, comment="containment of the region, percent (50 or 90)")
    match: str = column(Text, comment="position (inside the region) or ellipse (overlaps)")
    separation_deg: float = column(Double, comment="deg, from the revision's best fit")
    source_ra: float = column(Double, comment="deg, ICRS (from the catalogue)")
    source_dec: float = column(Double, comment="deg, ICRS (from the catalogue)")
    source_class: str | None = column(Text, default=None, comment="catalogue class")
    association: str | None = column(Text, default=None, comment="associated counterpart")


class Counterpart(CounterpartBase, Keyed, table=True):
    """The ``counterparts`` table."""

    __tablename__: ClassVar[str] = "counterparts"
    __table_args__ = (
        UniqueConstraint("revision_pk", "catalogue", "level", "source_name",
                         name="uq_counterparts_revision_pk"),
        CheckConstraint("level IN (50, 90)", name="level"),
        CheckConstraint(one_of("match", MATCHES), name="match"),
    )

    created_at: datetime | None = set_now()


counterparts = table_of(Counterpart)
