"""Counterpart candidates: computed per revision in SQL, stored, and read back.

:meth:`CounterpartStore.compute_for` replaces the candidates of the given revisions, for
every registered catalogue, with ONE statement per catalogue (all the revisions and both
levels at once): the catalogue's ellipse tiles that overlap a region's tiles give the
candidates, found set-based by the order-6 cells both touch (an equi-join on
:func:`catalog.counterparts.loader.cells_table`, then ``&&``; one SP-GiST probe per region
tile cost five times more); the exact tests of :mod:`catalog.counterparts.geometry`
(tiles AND shape, for the position and for the outline of the error ellipse) decide.
Call it in the transaction that writes a revision's region tiles, after they are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote_plus

from sqlalchemy import any_, bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT
from sqlalchemy.engine import Connection, RowMapping

from catalog import sky
from catalog.counterparts.geometry import (
    in_ellipse,
    in_shape,
    in_tiles,
    may_reach,
    outline_from,
)
from catalog.counterparts.loader import cells_sql, cells_table
from catalog.counterparts.models import CounterpartList, CounterpartPublic
from catalog.counterparts.registry import Catalogue, catalogues
from catalog.errors import NotFound
from catalog.schema.counterparts import counterparts
from catalog.schema.events import region_tiles, revisions
from catalog.storage.lookup import resolve_event


def _levels() -> str:
    """The two levels of a revision as rows ``g`` (level, shape, radius, extents)."""
    rows = ", ".join(
        f"({lv}, r.region{lv}_shape, r.r{lv}_deg, r.ra_err_plus_{lv}, r.ra_err_minus_{lv},"
        f" r.dec_err_plus_{lv}, r.dec_err_minus_{lv})" for lv in (50, 90))
    return (f"(VALUES {rows}) AS g(level, shape, radius, ra_plus, ra_minus, dec_plus,"
            " dec_minus)")


def _ellipse_test(cat: Catalogue) -> str:
    """SQL: the source's error ellipse meets the region (beyond its position)."""
    if not cat.has_ellipse:
        return "FALSE"
    a, b, pa = (f"f.{cat.semi_major}", f"f.{cat.semi_minor}", f"f.{cat.pos_angle}")
    ra0, dec0 = f"f.{cat.ra}", f"f.{cat.dec}"
    best_in_region = (f"({in_shape('r.ra', 'r.dec', 'g', 'r.ra', 'r.dec')}"
                      f" AND {in_tiles('r.hpx29', 'r.id', 'g.level')})")
    outline = (f"EXISTS (SELECT 1 FROM {outline_from(ra0, dec0, a, b, pa)}"
               f" WHERE {in_shape('o5.ra', 'o3.dec', 'g', 'r.ra', 'r.dec')}"
               f" AND {in_tiles('nufair.hpx29(o5.ra, o3.dec)', 'r.id', 'g.level')})")
    reach = may_reach(ra0, dec0, a, "g", "r.ra", "r.dec")
    return (f"({a} > 0 AND {b} > 0 AND {pa} IS NOT NULL AND {reach} AND"
            f" (({best_in_region} AND {in_ellipse('r.ra', 'r.dec', ra0, dec0, a, b, pa)})"
            f" OR {outline}))")


@lru_cache(maxsize=16)
def compute_sql(cat: Catalogue) -> str:
    """The INSERT ... SELECT of the candidates of ``:ids`` (revision pks) in ``cat``."""
    f_ra, f_dec = f"f.{cat.ra}", f"f.{cat.dec}"
    cls = f"f.{cat.source_class}" if cat.source_class else "NULL"
    assoc = f"f.{cat.association}" if cat.association else "NULL"
    position = (f"({in_tiles('f.hpx29', 'r.id', 'g.level')}"
                f" AND {in_shape(f_ra, f_dec, 'g', 'r.ra', 'r.dec')})")
    return f"""
INSERT INTO public.counterparts (revision_pk, catalogue, source_name, level, match,
    separation_deg, source_ra, source_dec, source_class, association)
SELECT r.id, :catalogue, f.{cat.name}, g.level,
       CASE WHEN x.position THEN 'position' ELSE 'ellipse' END,
       {sky.great_circle_sql('r.ra', 'r.dec', f_ra, f_dec)}, {f_ra}, {f_dec}, {cls}, {assoc}
FROM public.revisions r
CROSS JOIN LATERAL {_levels()}
CROSS JOIN LATERAL (
    SELECT DISTINCT ct.source_name FROM public.region_tiles t
    CROSS JOIN LATERAL {cells_sql('t.hpx')} AS rc(cell)
    JOIN {cells_table(cat)} ct ON ct.cell = rc.cell AND ct.hpx && t.hpx
    WHERE t.revision_pk = r.id AND t.level = g.level) c
JOIN {cat.qualified} f ON f.{cat.name} = c.source_name
CROSS JOIN LATERAL (SELECT {position} AS position) x
WHERE r.id = ANY(:ids) AND r.ra IS NOT NULL AND r.dec IS NOT NULL
  AND (x.position OR {_ellipse_test(cat)})
"""


@dataclass(frozen=True, slots=True)
class ComputeSummary:
    """What :meth:`CounterpartStore.compute_for` did: revisions and rows per catalogue."""

    revisions: int
    rows: dict[str, int]


class CounterpartStore:
    """Counterpart candidates on one open transaction, for the registered catalogues (or
    the ``cats`` given: a catalogue is a registry entry, never code of its own)."""

    def __init__(self, conn: Connection, cats: Sequence[Catalogue] | None = None) -> None:
        self.conn = conn
        self.cats = tuple(catalogues() if cats is None else cats)

    def compute_for(self, revision_ids: Sequence[int]) -> ComputeSummary:
        """Replace the candidates of ``revision_ids`` in every registered catalogue.

        A revision without a region (a retraction, a position without errors) gets none.
        """
        ids = sorted({int(i) for i in revision_ids})
        rows: dict[str, int] = {}
        if not ids:
            return ComputeSummary(0, rows)
        self.conn.execute(delete(counterparts).where(
            counterparts.c.revision_pk == any_(bindparam("ids", ids, type_=ARRAY(BIGINT)))))
        for cat in self.cats:
            stmt = text(compute_sql(cat)).bindparams(
                bindparam("ids", type_=ARRAY(BIGINT)))
            result = self.conn.execute(stmt, {"ids": ids, "catalogue": cat.key})
            rows[cat.key] = result.rowcount
        return ComputeSummary(len(ids), rows)

    def revisions_with_regions(self) -> list[int]:
        """Every revision that has region tiles (what a backfill recomputes)."""
        return list(self.conn.execute(
            select(region_tiles.c.revision_pk).distinct().order_by(region_tiles.c.revision_pk)
        ).scalars())

    def for_revision(self, revision_pk: int, level: int | None = None
                     ) -> list[CounterpartPublic]:
        """The stored candidates of a revision, in reading order (see :func:`reading_order`)."""
        stmt = select(counterparts).where(counterparts.c.revision_pk == revision_pk)
        if level is not None:
            stmt = stmt.where(counterparts.c.level == level)
        by_key = {c.key: c for c in self.cats}
        found = [_public(r, by_key[r["catalogue"]])
                 for r in self.conn.execute(stmt).mappings() if r["catalogue"] in by_key]
        return reading_order(found)

    def for_event(self, key: str, number: int | None = None, level: int | None = None
                  ) -> CounterpartList:
        """The candidates of revision ``number`` (the current one when None) of event
        ``key``; ``NotFound`` for an unknown event or revision."""
        ev = resolve_event(self.conn, key)
        stmt = select(revisions.c.id, revisions.c.number).where(
            revisions.c.event_pk == ev.id)
        if number is None:
            stmt = stmt.where(revisions.c.id == ev.current_revision_pk)
        else:
            stmt = stmt.where(revisions.c.number == number)
        rev = self.conn.execute(stmt).first()
        if rev is None:
            raise NotFound(f"event {key!r} has no revision {number}",
                           details={"event": key, "revision": number})
        return CounterpartList(event=ev.name or str(ev.id), revision=rev.number,
                               items=self.for_revision(rev.id, level))


def _public(row: RowMapping, cat: Catalogue) -> CounterpartPublic:
    link = cat.link.format(name=quote_plus(row["source_name"])) if cat.link else None
    return CounterpartPublic(
        catalogue=row["catalogue"], catalogue_label=cat.label,
        source_name=row["source_name"], level=row["level"], match=row["match"],
        separation_deg=row["separation_deg"], ra=row["source_ra"], dec=row["source_dec"],
        source_class=row["source_class"], association=row["association"],
        blazar=cat.is_priority(row["source_class"]), url=link)


def reading_order(items: Sequence[CounterpartPublic]) -> list[CounterpartPublic]:
    """Level 90 first, then priority (blazar) classes, position before ellipse, nearest first."""
    return sorted(items, key=lambda c: (-c.level, not c.blazar, c.match != "position",
                                        c.separation_deg, c.source_name))
