"""Exact predicates between two region columns (issue 15): INTERSECTS and CONTAINS.

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

``CONTAINS(a.region50, b.region90)`` (any levels; ``a`` and ``b`` may be one row) is the
first published region lying in the second (:func:`region_in_region_sql`), by kind pair:
a circle in a circle by the distance of the centres plus the inner radius; a circle in a
box by both of its projections (:func:`vo.adql.regions.circle_in_region_sql`); a box in a
circle by the box lying in the circle's hemisphere ``c · x >= cos r``
(:mod:`vo.adql.regionpolygons`); a box in a box by the Dec intervals and the RA arcs; a
region without extents by its tiles (:func:`tiles_within_sql`). The index is that of
INTERSECTS (:func:`tiles_meet_sql`): a region in another meets it.

A CIRCLE of an uploaded table's columns against a region column is
:mod:`vo.adql.uploadcircles`.
"""

from __future__ import annotations

from catalog import sky
from vo.adql.regionpolygons import RegionPolygonSql
from vo.adql.regions import (
    as_double,
    box_meets_circle_sql,
    by_shape,
    circle_in_region_sql,
    columns,
    extents,
)
from vo.tables import TILES_RELATION


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


def _box_in_box(inner: dict[str, str], outer: dict[str, str]) -> str:
    """SQL boolean: the inner row's RA/Dec box lies in the outer row's: its Dec interval
    in the other's, and its RA arc on the other's (every RA when the outer spans all; an
    inner box spanning all RA only in such a one)."""
    lo_i, hi_i, dlo_i, dhi_i, full_i = extents(inner)
    lo_o, hi_o, dlo_o, dhi_o, full_o = extents(outer)
    in_dec = f"({dlo_i} >= {dlo_o} AND {dhi_i} <= {dhi_o})"
    west = f"(({inner['ra']} - {lo_i}) - ({outer['ra']} - {lo_o}))"
    # The inner arc starts d east of the outer's west end (d in [0, 360)) and ends in it.
    d = f"({west} - 360.0 * floor({west} / 360.0))"
    in_ra = f"({full_o} OR (NOT {full_i} AND {d} + {lo_i} + {hi_i} <= {lo_o} + {hi_o}))"
    return f"({in_dec} AND {in_ra})"


def region_in_region_sql(row_i: str, level_i: int, row_o: str, level_o: int,
                         regions: RegionPolygonSql, tiles: str) -> str:
    """SQL boolean: the published region of row ``row_i`` lies in the one of ``row_o``
    (edges included), by kind pair: a circle in a circle (the centres' distance plus the
    inner radius within the outer), a circle in a box (both projections of the circle in
    the box's intervals: :func:`vo.adql.regions.circle_in_region_sql`), a box in a circle
    (the box in the circle's hemisphere ``c · x >= cos r``:
    :meth:`vo.adql.regionpolygons.RegionPolygonSql.region_in_circle`), a box in a box
    (:func:`_box_in_box`); where either has no extents ``tiles`` (SQL: the inner tiles
    lie in the outer's, :func:`tiles_within_sql`) decides."""
    i, o = columns(row_i, level_i), columns(row_o, level_o)
    distance = sky.great_circle_sql(i["ra"], i["dec"], o["ra"], o["dec"])
    bound = f"({distance} <= {reach_sql(i)} + {reach_sql(o)})"
    in_circle = regions.region_in_circle(row_i, level_i, o["ra"], o["dec"], o["r"], tiles)
    circle_in_box = circle_in_region_sql(row_o, level_o, i["ra"], i["dec"], i["r"], tiles)
    in_box = by_shape(i, circle_in_box, tiles, _box_in_box(i, o))
    return f"({bound} AND {by_shape(o, in_circle, tiles, in_box)})"


def tiles_within_sql(rev_i: str, level_i: int, rev_o: str, level_o: int) -> str:
    """SQL boolean: every tile of one row's region is covered by the other's tiles (false
    for a row without tiles), as :meth:`vo.adql.mocsql.MocSql.within` for two MOCs."""
    covered = (f"(SELECT COALESCE(sum(upper(ti.hpx * tw.hpx) - lower(ti.hpx * tw.hpx)), 0)"
               f" FROM {TILES_RELATION} tw WHERE tw.revision_pk = {rev_o} AND"
               f" tw.level = {int(level_o)} AND tw.hpx && ti.hpx)")
    return (f"(EXISTS (SELECT 1 FROM {TILES_RELATION} tn WHERE tn.revision_pk = {rev_i}"
            f" AND tn.level = {int(level_i)}) AND NOT EXISTS (SELECT 1 FROM {TILES_RELATION}"
            f" ti WHERE ti.revision_pk = {rev_i} AND ti.level = {int(level_i)} AND"
            f" {covered} < upper(ti.hpx) - lower(ti.hpx)))")
