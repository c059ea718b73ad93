"""The exact published region of an alert row, in SQL: what a MOC column's tiles pre-filter.

A ``moc50`` / ``moc90`` column is the covering of a region by HEALPix tiles, larger than the
region (1.06 to 1.45 times its area over the IceCat-1 sample, issue 15). ``CONTAINS(POINT,
moc90)`` keeps the tiles as the index and ANDs this test, written over the row's own
columns, so that TAP answers what ``GET /api/v1/regions/containing`` answers
(:meth:`catalog.storage.events.CatalogStorage.regions_containing`):

* a circle: the great-circle distance (:func:`catalog.sky.great_circle_sql`) <= the radius;
* an RA/Dec box: :func:`catalog.sky.in_box`, operation by operation (the same RA wrap, the
  same floating-point steps, so boundary points fall on the same side);
* a region without extents: its tiles are the region.

A scan's revision keeps its box and gets the scan's own pixels as tiles (and its radius as
``r{level}``, :meth:`catalog.storage.revisions.RevisionStore.replace_region_tiles`): tiles
AND box is then the contour, as REST answers it.

The ``region50`` / ``region90`` columns are polygons drawn about the region, for display
(:func:`vo.tables_obscore.region_description`: they enclose it, with a stated deviation).
In ``CONTAINS(POINT, region90)`` or ``INTERSECTS(POINT, region90)`` such a column stands
for the published region itself (:func:`published_regions`): the predicate is the one of
``moc90``, tiles as the index and the exact shape, so that both columns answer alike.

``INTERSECTS(CIRCLE, region90)`` (either order, region50 too) is exact as well: the
circle's tile covering meets the region's tiles (the index), and the circle meets the
published shape (:func:`circle_meets_region_sql`): two circles when their centres are at
most the sum of the radii apart; a circle and a box when the box holds the circle's centre
or the circle reaches the box's edge — a corner, a constant-RA edge (a meridian arc: the
foot of the perpendicular on the arc) or a constant-Dec edge (a small circle: the point
of the edge at the centre's RA). A circle meets a closed region iff its centre is inside
or the boundary is within its radius (the great-circle arc from the centre to a common
point crosses the boundary inside the circle).

``CONTAINS(CIRCLE, region90)`` is exact too (:func:`circle_in_region_sql`): the same tile
index, then the circle lies in the shape — two circles when the centres are at most the
difference of the radii apart; a box when both of the circle's projections, on Dec and on
RA, lie in the box's intervals.

A constant POLYGON or BOX against a region column (INTERSECTS either order, CONTAINS
either way) and ``CONTAINS(region90, CIRCLE)`` (the region lies in the circle) are exact in
the same way: the tiles as the index, then the shape tests of
:mod:`vo.adql.regionpolygons`. Against a region without extents the tiles decide.

The views publish the shape of each region (``shape50`` / ``shape90``, issue 14): a circle
is its radius ``r{level}`` alone (its four extents are null), a box its four half-widths.

Where the time goes (100 k alerts, issue 15): not in this arithmetic (~85 candidates a
point, microseconds) but in the pages the candidates live on. The tile index carries
``level`` and ``revision_pk`` and the revisions' shape columns have their own covering
index (migration 0022), so a point probe and its exact test read indexes only.
"""

from __future__ import annotations

from catalog import sky
from vo.adql.scope import Expr, quote
from vo.errors import AdqlError


def as_double(sql: str) -> str:
    """``sql`` cast to double precision."""
    return f"CAST({sql} AS double precision)"


def ra_offset_sql(ra: str, ra0: str) -> str:
    """``(ra - ra0 + 180) % 360 - 180`` with Python's float ``%`` (sign of the divisor).

    Python computes ``fmod`` (exact) and adds 360 to a negative remainder; for the sums
    that occur (-360 .. 720) that is one exact subtraction or addition, spelt out here so
    that PostgreSQL takes the very same steps (``x - 360 * floor(x / 360)`` may round
    differently just below 360).
    """
    x = f"(({ra} - {ra0}) + 180.0)"
    return (f"(CASE WHEN {x} >= 0.0 AND {x} < 360.0 THEN {x}"
            f" WHEN {x} >= 360.0 AND {x} < 720.0 THEN {x} - 360.0"
            f" WHEN {x} < 0.0 AND {x} >= -360.0 THEN {x} + 360.0"
            f" ELSE {x} - 360.0 * floor({x} / 360.0) END - 180.0)")


def box_sql(ra: str, dec: str, cols: dict[str, str]) -> str:
    """:func:`catalog.sky.in_box` of the point (ra, dec) in the row's box."""
    ra0, dec0 = cols["ra"], cols["dec"]
    plus, minus = cols["ra_plus"], cols["ra_minus"]
    in_dec = (f"({dec0} - {cols['dec_minus']} <= {dec} AND "
              f"{dec} <= {dec0} + {cols['dec_plus']})")
    offset = ra_offset_sql(ra, ra0)
    # BETWEEN is -minus <= offset AND offset <= plus, with the offset written once
    in_ra = f"({plus} + {minus} >= 360.0 OR {offset} BETWEEN -{minus} AND {plus})"
    return f"({in_dec} AND {in_ra})"


def columns(row: str, level: int) -> dict[str, str]:
    """SQL of the row's columns that describe its ``level`` % region.

    These are the columns ``ix_revisions_region_shapes`` carries (migration 0022), so that
    the candidates of the tile probe are tested from that small index, not from their wide
    rows; a test that read another column would lose that path
    (tests/vo/test_region_index_only.py checks the plan).
    """
    def col(name: str) -> str:
        return f"{row}.{quote(name)}"
    return {"ra": col("ra"), "dec": col("dec"), "r": col(f"r{level}"),
            "shape": col(f"shape{level}"),
            "ra_plus": col(f"ra_err_plus_{level}"), "ra_minus": col(f"ra_err_minus_{level}"),
            "dec_plus": col(f"dec_err_plus_{level}"),
            "dec_minus": col(f"dec_err_minus_{level}")}


def by_shape(cols: dict[str, str], circle: str, tiles_only: str, box: str) -> str:
    """SQL: ``circle`` for a circle region, ``tiles_only`` for a region without extents
    (its tiles are the region), ``box`` for an RA/Dec box."""
    return (f"(CASE WHEN {cols['shape']} = 'circle' THEN {circle}"
            f" WHEN {cols['ra_plus']} IS NULL OR {cols['ra_minus']} IS NULL"
            f" OR {cols['dec_plus']} IS NULL OR {cols['dec_minus']} IS NULL THEN {tiles_only}"
            f" ELSE {box} END)")


def extents(cols: dict[str, str]) -> tuple[str, str, str, str, str]:
    """SQL of the box's RA extents as :func:`catalog.sky.in_box` reads them (an RA offset
    in [-180, 180) against -minus .. plus: wider extents clamp), its Dec limits clamped to
    the poles, and whether it spans every RA: ``(lo, hi, dlo, dhi, full)``."""
    return (f"LEAST({cols['ra_minus']}, 180.0)", f"LEAST({cols['ra_plus']}, 180.0)",
            f"GREATEST({cols['dec']} - {cols['dec_minus']}, -90.0)",
            f"LEAST({cols['dec']} + {cols['dec_plus']}, 90.0)",
            f"({cols['ra_plus']} + {cols['ra_minus']} >= 360.0)")


def exact_region_sql(row: str, level: int, ra: str, dec: str) -> str:
    """SQL boolean: the point (``ra``, ``dec``: SQL in degrees) lies in the published
    ``level`` % region of the alert row whose SQL alias is ``row``."""
    cols = columns(row, level)
    pra, pdec = as_double(ra), as_double(dec)
    distance = sky.great_circle_sql(cols["ra"], cols["dec"], pra, pdec)
    return by_shape(cols, f"{distance} <= {cols['r']}", "TRUE", box_sql(pra, pdec, cols))


def box_meets_circle_sql(cols: dict[str, str], cra: str, cdec: str, rho: str) -> str:
    """SQL boolean: the row's RA/Dec box and the circle (``cra``, ``cdec``, ``rho``: SQL
    in degrees) share a point; the box as :func:`catalog.sky.in_box` reads it."""
    ra0 = cols["ra"]
    lo, hi, dlo, dhi, full = extents(cols)
    meridians = (f"({ra0} - {lo})", f"({ra0} + {hi})")

    def near(ra: str, dec: str) -> str:
        return f"({sky.great_circle_sql(cra, cdec, ra, dec)} <= {rho})"

    corners = [near(m, d) for m in meridians for d in (dlo, dhi)]
    # A constant-Dec edge: nearest at the centre's own RA when the box spans it.
    offset = ra_offset_sql(cra, ra0)
    parallels = (f"(({full} OR {offset} BETWEEN -{lo} AND {hi}) AND "
                 f"(abs({cdec} - {dlo}) <= {rho} OR abs({cdec} - {dhi}) <= {rho}))")
    # A constant-RA edge (half a great circle): the foot of the perpendicular, when it
    # falls on the arc, at asin(|p . n|) from the centre (n: the meridian plane's normal).
    sin_rho = f"sin(radians(LEAST({rho}, 90.0)))"
    feet = []
    for m in meridians:
        along = f"(cos(radians({cdec})) * cos(radians({cra} - {m})))"
        foot = f"degrees(atan2(sin(radians({cdec})), {along}))"
        feet.append(f"({along} >= 0.0 AND {foot} BETWEEN {dlo} AND {dhi} AND "
                    f"abs(cos(radians({cdec})) * sin(radians({cra} - {m}))) <= {sin_rho})")
    inside = box_sql(cra, cdec, cols)
    return "(" + " OR ".join([inside, parallels, *corners, *feet]) + ")"


def circle_meets_region_sql(row: str, level: int, ra: str, dec: str, radius: str) -> str:
    """SQL boolean: the circle (``ra``, ``dec``, ``radius``: SQL in degrees) and the
    published ``level`` % region of the alert row ``row`` share a point (edges included).

    A region without extents is its tiles: TRUE here, the tiles' test decides.
    """
    cols = columns(row, level)
    cra, cdec, rho = as_double(ra), as_double(dec), as_double(radius)
    distance = sky.great_circle_sql(cols["ra"], cols["dec"], cra, cdec)
    return by_shape(cols, f"{distance} <= {cols['r']} + {rho}", "TRUE",
                     box_meets_circle_sql(cols, cra, cdec, rho))


def _box_holds_circle(cols: dict[str, str], cra: str, cdec: str, rho: str) -> str:
    """SQL boolean: the circle (``cra``, ``cdec``, ``rho``: SQL in degrees) lies in the
    row's RA/Dec box, as :func:`catalog.sky.in_box` reads the box.

    The box is the set of points whose Dec lies in one interval and whose RA offset lies in
    another, so a circle lies in it iff both projections of the circle do: its Dec range
    ``[max(δ - ρ, -90), min(δ + ρ, 90)]``, and its RA range, all RAs when it holds a pole
    (``ρ >= 90 - |δ|``), else ``α ± asin(sin ρ / cos δ)`` (the meridians tangent to it).
    """
    lo, hi, dlo, dhi, full = extents(cols)
    in_dec = (f"(GREATEST({cdec} - {rho}, -90.0) >= {dlo} AND "
              f"LEAST({cdec} + {rho}, 90.0) <= {dhi})")
    half = f"degrees(asin(LEAST(sin(radians({rho})) / cos(radians({cdec})), 1.0)))"
    offset = ra_offset_sql(cra, cols["ra"])
    in_ra = (f"(CASE WHEN {full} THEN TRUE WHEN {rho} >= 90.0 - abs({cdec}) THEN FALSE"
             f" ELSE {offset} - {half} >= -{lo} AND {offset} + {half} <= {hi} END)")
    return f"({in_dec} AND {in_ra})"


def circle_in_region_sql(row: str, level: int, ra: str, dec: str, radius: str,
                         tiles_only: str) -> str:
    """SQL boolean: the circle (``ra``, ``dec``, ``radius``: SQL in degrees) lies in the
    published ``level`` % region of the alert row ``row`` (edges included).

    A circle region holds it when the centres are at most the difference of the radii
    apart; a box by :func:`_box_holds_circle`; a region without extents is its tiles, and
    ``tiles_only`` (SQL: the circle's covering lies in the row's tiles) decides.
    """
    cols = columns(row, level)
    cra, cdec, rho = as_double(ra), as_double(dec), as_double(radius)
    distance = sky.great_circle_sql(cols["ra"], cols["dec"], cra, cdec)
    return by_shape(cols, f"{distance} + {rho} <= {cols['r']}", tiles_only,
                     _box_holds_circle(cols, cra, cdec, rho))


def is_region_column(e: Expr) -> bool:
    """Whether ``e`` is a region polygon column (``region50``, ``region90``) of an alert row."""
    return e.kind == "value" and e.moc is not None and e.region is not None


def published_regions(args: list[Expr], name: str = "contains") -> list[Expr]:
    """The operands of CONTAINS or INTERSECTS (``name``), a region polygon column taken
    as the published region it draws (the MOC column of its level, marked ``exact``: its
    predicates test the shape); the other operands are kept as they are.

    A region column meets a POINT; a constant CIRCLE, POLYGON or BOX in INTERSECTS
    (either order) and in CONTAINS (either way: the shape in the region, or the region in
    the shape); a CIRCLE of columns in INTERSECTS (either order) and as the first operand
    of CONTAINS (:mod:`vo.adql.uploadcircles` then requires arithmetic of the columns of
    one uploaded table); and
    another region column in INTERSECTS and CONTAINS (:mod:`vo.adql.regionpairs`). An
    overlap of the region with a MOC, a POLYGON of columns, or CONTAINS of a region in a
    CIRCLE of columns, is asked of ``moc50`` / ``moc90`` (tiles, stated as such).
    """
    if not any(is_region_column(a) for a in args):
        return args
    others = [a for a in args if not is_region_column(a)]
    if len(args) == 2 and not others:
        return [_as_region(a) for a in args]  # two regions: vo.adql.regionpairs
    shapes = len(args) == 2 and len(others) == 1 and (
        (others[0].kind == "circle" and (others[0].is_const or name == "intersects"
                                         or args[0] is others[0]))
        or (others[0].kind == "polygon" and others[0].polygon is not None))
    if not any(a.kind == "point" for a in others) and not shapes:
        raise AdqlError("a region column (region50, region90) in CONTAINS or INTERSECTS "
                        "meets a POINT; a constant CIRCLE, POLYGON or BOX (INTERSECTS "
                        "either order; CONTAINS either way: the shape in the region or the "
                        "region in the shape); a CIRCLE of columns of an uploaded table, or "
                        "arithmetic of them (+ - * /, constants) "
                        "(INTERSECTS either order, CONTAINS(CIRCLE, region)); or another "
                        "region column (INTERSECTS, and CONTAINS: the first in the second); "
                        "the test is then the exact published region. Still refused: a "
                        "region against a MOC, a POLYGON or BOX of columns, CONTAINS of a "
                        "region in a CIRCLE of columns; for those use moc50 / moc90 "
                        "(HEALPix tiles)")
    return [_as_region(a) if is_region_column(a) else a for a in args]


def _as_region(a: Expr) -> Expr:
    """A region polygon column as the MOC column of its level, marked ``exact``."""
    assert a.moc is not None
    return Expr(sql=a.moc[0], kind="moc", meta=a.meta, moc=a.moc, region=a.region,
                name=a.name, exact=True)
