"""Exact predicates between two region columns, and between a region column and a CIRCLE
made of the columns of an uploaded table (issue 15).

``INTERSECTS(a.region90, b.region50)`` (any levels, either order) is the overlap of the
two published regions (:func:`region_meets_region_sql`), by kind pair:

* two circles: their centres are at most the sum of the radii apart;
* a circle and a box: :func:`vo.adql.regions.circle_meets_region_sql`'s test, with the
  circle's centre and radius read from the other row;
* two boxes: their Dec intervals overlap and their RA intervals (``ra - lo`` to
  ``ra + hi``, as :func:`vo.adql.regions.extents` reads them) overlap on the circle of RA,
  a box 360 degrees wide meeting every RA; two boxes that both reach a pole share it;
* a region without extents is its tiles: the tiles' overlap decides.

The tiles are the index: the two rows' tiles overlap (as for two MOC columns,
:meth:`vo.adql.mocsql.MocSql.intersects`); before them a cheap bound, the centres at most
the sum of the regions' reaches apart (:func:`reach_sql`), so that most pairs of a join
are dropped by one distance.

``INTERSECTS(CIRCLE(s.ra, s.dec, s.err), a.region90)`` (either order) and
``CONTAINS(CIRCLE(...), a.region90)`` with a circle of columns of one uploaded table (or
constants) are exact by the tests of :mod:`vo.adql.regions`, which take SQL expressions.
The index is the circles' coverings, computed when the query is translated
(:class:`UploadCircles`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import Latitude, Longitude
from mocpy import MOC

from catalog import sky
from vo.adql.regions import as_double, box_meets_circle_sql, by_shape, columns, extents
from vo.adql.scope import Expr
from vo.adql.uploads import UploadColumn
from vo.errors import AdqlError
from vo.tables import TILES_RELATION

Bind = Callable[..., str]

#: Orders coarser than a constant circle's pre-filter (``tile_order(r)``, cells ~4 times
#: smaller than the radius) at which each uploaded circle is covered: cells about the
#: radius, ~6 ranges a circle. For 1 000 circles the probes of the tile index are what
#: costs (~13 µs each): at ``tile_order(r)`` 19 k ranges took 255 ms, and mocpy's
#: per-circle covering 0.4 s of Python (one ``from_cones`` per order here: ~10 ms).
COARSER = 2

#: The whole sky as order-29 ranges (a circle of radius 180).
ALL_SKY = np.array([[0, 12 * 4**29]], dtype=np.uint64)


def reach_sql(cols: dict[str, str]) -> str:
    """SQL: a bound on the distance (degrees) from the row's centre to any point of its
    region: a circle's radius; for a box its Dec extent plus its RA extent (a step along a
    parallel is no longer than its angle); 180 for a region without extents."""
    box = (f"(GREATEST({cols['dec_plus']}, {cols['dec_minus']}) + "
           f"LEAST(GREATEST({cols['ra_plus']}, {cols['ra_minus']}), 180.0))")
    return by_shape(cols, cols["r"], "180.0", box)


def _box_meets_box(a: dict[str, str], b: dict[str, str]) -> str:
    """SQL boolean: two rows' RA/Dec boxes share a point."""
    lo_a, hi_a, dlo_a, dhi_a, full_a = extents(a)
    lo_b, hi_b, dlo_b, dhi_b, full_b = extents(b)
    in_dec = f"(GREATEST({dlo_a}, {dlo_b}) <= LEAST({dhi_a}, {dhi_b}))"
    poles = (f"(({dhi_a} >= 90.0 AND {dhi_b} >= 90.0) OR "
             f"({dlo_a} <= -90.0 AND {dlo_b} <= -90.0))")

    def mod360(x: str) -> str:
        return f"(({x}) - 360.0 * floor(({x}) / 360.0))"

    # Arcs [w, w + width] of the circle of RA meet iff either's west end lies on the other.
    west_a, west_b = f"({a['ra']} - {lo_a})", f"({b['ra']} - {lo_b})"
    in_ra = (f"({full_a} OR {full_b} OR {mod360(f'{west_b} - {west_a}')} <= {lo_a} + {hi_a}"
             f" OR {mod360(f'{west_a} - {west_b}')} <= {lo_b} + {hi_b})")
    return f"(({in_dec} AND {in_ra}) OR {poles})"


def region_meets_region_sql(row_a: str, level_a: int, row_b: str, level_b: int) -> str:
    """SQL boolean: the published regions of two alert rows share a point (edges
    included); TRUE when either has no extents (its tiles decide)."""
    a, b = columns(row_a, level_a), columns(row_b, level_b)
    distance = sky.great_circle_sql(a["ra"], a["dec"], b["ra"], b["dec"])

    def a_is_circle() -> str:  # a circle against b
        return by_shape(b, f"{distance} <= {a['r']} + {b['r']}", "TRUE",
                        box_meets_circle_sql(b, *(as_double(a[k]) for k in ("ra", "dec", "r"))))

    a_is_box = by_shape(b, box_meets_circle_sql(a, *(as_double(b[k]) for k in ("ra", "dec", "r"))),
                        "TRUE", _box_meets_box(a, b))
    shape = by_shape(a, a_is_circle(), "TRUE", a_is_box)
    bound = f"({distance} <= {reach_sql(a)} + {reach_sql(b)})"
    return f"({bound} AND {shape})"


def tiles_meet_sql(rev_a: str, level_a: int, rev_b: str, level_b: int) -> str:
    """SQL boolean: some tile of one row's region overlaps some tile of the other's.

    Written as ``rev_b = ANY(the revisions whose tiles meet rev_a's)``, not as an EXISTS
    over both rows' tiles: PostgreSQL then scans ``b`` by its key for each ``a`` (a
    self-join of 10 000 alerts in ~7 s), where the EXISTS was a filter on every pair of
    rows (10^8 pairs: past the 30 s limit). The cheaper quals run first on a pair."""
    return (f"{rev_b} = ANY(ARRAY(SELECT tb.revision_pk FROM {TILES_RELATION} ta JOIN"
            f" {TILES_RELATION} tb ON ta.hpx && tb.hpx WHERE ta.revision_pk = {rev_a}"
            f" AND ta.level = {level_a} AND tb.level = {level_b}))")


@dataclass(frozen=True, slots=True)
class UploadCircles:
    """The circles of an uploaded table's rows with their tile coverings, bound as arrays.

    A CIRCLE of uploaded columns varies per row, so no covering exists when the SQL is
    written; but the rows are known then. Each distinct circle gets an outer covering by
    cells about its radius (:data:`COARSER`), keyed by its (ra, dec, radius) as the
    temporary table stores them; a region without extents is decided by its tiles
    against that covering (coarser than a constant circle's). Then the candidate pairs are one
    uncorrelated subquery (coverings joined to the tiles' SP-GiST index) that PostgreSQL
    hashes or joins as a semi-join: a probe per range rather than a test per (source,
    alert) pair. (A bound on the circle centre's hpx29 index widened by the region's
    reach needs a cone's ranges in SQL; a Dec band with a global reach degrades with the
    largest region.)
    """

    key: tuple[str, str, str]  # SQL of ra, dec, radius of the circle in the query
    relation: str  # SQL: unnest(...) AS alias(ra, dec, r, lo, hi)
    alias: str

    def pairs_sql(self, rev: str, level: int) -> str:
        """SQL boolean: the circle's covering meets the tiles of row ``rev``'s region."""
        ra, dec, r = (as_double(k) for k in self.key)
        c = self.alias
        return (f"(({ra}, {dec}, {r}, {rev}) IN (SELECT {c}.ra, {c}.dec, {c}.r,"
                f" m.revision_pk FROM {self.relation} JOIN {TILES_RELATION} m ON m.hpx &&"
                f" int8range({c}.lo, {c}.hi) WHERE m.level = {int(level)}))")

    def within_sql(self, rev: str, level: int) -> str:
        """SQL boolean: the circle's covering lies in the tiles of row ``rev``'s region
        (every range covered by the tiles it overlaps; false for a row without tiles)."""
        ra, dec, r = (as_double(k) for k in self.key)
        c = self.alias
        covered = (f"(SELECT COALESCE(sum(upper(int8range({c}.lo, {c}.hi) * mb.hpx) - "
                   f"lower(int8range({c}.lo, {c}.hi) * mb.hpx)), 0) FROM {TILES_RELATION} mb"
                   f" WHERE mb.revision_pk = {rev} AND mb.level = {int(level)} AND"
                   f" mb.hpx && int8range({c}.lo, {c}.hi))")
        return (f"(EXISTS (SELECT 1 FROM {TILES_RELATION} mn WHERE mn.revision_pk = {rev}"
                f" AND mn.level = {int(level)}) AND NOT EXISTS (SELECT 1 FROM {self.relation}"
                f" WHERE {c}.ra = {ra} AND {c}.dec = {dec} AND {c}.r = {r} AND"
                f" {covered} < {c}.hi - {c}.lo))")


def upload_circles(parts: tuple[str, str, str], values: list[np.ndarray | float],
                   bind: Bind, alias: str) -> UploadCircles:
    """The :class:`UploadCircles` of circles whose ra, dec and radius are ``values`` (per
    row arrays of one upload, NaN where NULL, or constants), written as ``parts`` (SQL)."""
    n = max(len(v) for v in values if isinstance(v, np.ndarray))
    cols = [np.asarray(v, dtype=np.float64) if isinstance(v, np.ndarray)
            else np.full(n, float(v)) for v in values]
    rows = np.unique(np.stack(cols, axis=1), axis=0)
    # A NULL or impossible circle meets nothing: the exact test says so as well.
    ok = np.isfinite(rows).all(axis=1)
    ok[ok] = (rows[ok, 2] >= 0) & (np.abs(rows[ok, 1]) <= 90)
    rows = rows[ok]
    keys: list[tuple[float, float, float]] = []
    bounds: list[tuple[int, int]] = []
    orders = np.array([max(sky.tile_order(max(float(r), 1e-6)) - COARSER, 0)
                       for r in rows[:, 2]], dtype=int)
    for order in np.unique(orders):
        group = rows[orders == order]
        mocs = MOC.from_cones(Longitude(group[:, 0] % 360.0 * u.deg),
                              Latitude(group[:, 1] * u.deg),
                              radius=np.clip(group[:, 2], 1e-9, 179.999) * u.deg,
                              max_depth=int(order), union_strategy=None)
        for (ra, dec, r), moc in zip(group, mocs, strict=True):
            ranges = ALL_SKY if r >= 180.0 else moc.to_depth29_ranges
            keys += [(float(ra), float(dec), float(r))] * len(ranges)
            bounds += [(int(lo), int(hi)) for lo, hi in ranges]
    arrays = ", ".join(bind([k[i] for k in keys], "double precision[]") for i in range(3))
    ends = ", ".join(bind([b[i] for b in bounds], "bigint[]") for i in range(2))
    relation = f"unnest({arrays}, {ends}) AS {alias}(ra, dec, r, lo, hi)"
    return UploadCircles(parts, relation, alias)


def column_values(col: UploadColumn) -> np.ndarray:
    """An uploaded numeric column as float64, NaN where NULL (an ADQL error for text)."""
    if col.datatype not in ("short", "int", "long", "float", "double", "unsignedByte"):
        raise AdqlError(f"a CIRCLE against a region column needs numbers, not the "
                        f"{col.datatype} column {col.name}")
    values = np.asarray(col.values, dtype=np.float64).copy()
    values[np.asarray(col.nulls, dtype=bool)] = np.nan
    return values


def circles_of(circle: Expr, upload_columns: dict[str, tuple[str, UploadColumn]],
               bind: Bind, alias: str) -> UploadCircles:
    """The :class:`UploadCircles` of a CIRCLE whose arguments are columns of one uploaded
    table (``upload_columns``: column SQL -> (table alias, column)) or constants; an ADQL
    error for a CIRCLE of other columns or expressions."""
    values: list[np.ndarray | float] = []
    tables = set()
    for p in circle.parts:
        if p.is_const:
            assert isinstance(p.const, int | float)
            values.append(float(p.const))
            continue
        hit = upload_columns.get(p.sql)
        if hit is None:
            raise AdqlError("a region column (region50, region90) meets a CIRCLE of columns "
                            "only when they are columns of an uploaded table (TAP_UPLOAD) "
                            f"or constants, not {p.name or 'an expression'}: use moc50 / moc90")
        tables.add(hit[0])
        values.append(column_values(hit[1]))
    if len(tables) != 1:
        raise AdqlError("a region column (region50, region90) meets a CIRCLE of columns of "
                        "one uploaded table")
    ra, dec, r = (p.sql for p in circle.parts)
    return upload_circles((ra, dec, r), values, bind, alias)
