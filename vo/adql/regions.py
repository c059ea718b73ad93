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

The views publish the shape of each region (``shape50`` / ``shape90``, issue 14): a circle
is its radius ``r{level}`` alone (its four extents are null), a box its four half-widths.
"""

from __future__ import annotations

from catalog import sky
from vo.adql.scope import Expr, quote
from vo.errors import AdqlError


def _d(sql: str) -> str:
    return f"CAST({sql} AS double precision)"


def _ra_offset(ra: str, ra0: str) -> str:
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


def _box(ra: str, dec: str, cols: dict[str, str]) -> str:
    """:func:`catalog.sky.in_box` of the point (ra, dec) in the row's box."""
    ra0, dec0 = cols["ra"], cols["dec"]
    plus, minus = cols["ra_plus"], cols["ra_minus"]
    in_dec = (f"({dec0} - {cols['dec_minus']} <= {dec} AND "
              f"{dec} <= {dec0} + {cols['dec_plus']})")
    offset = _ra_offset(ra, ra0)
    # BETWEEN is -minus <= offset AND offset <= plus, with the offset written once
    in_ra = f"({plus} + {minus} >= 360.0 OR {offset} BETWEEN -{minus} AND {plus})"
    return f"({in_dec} AND {in_ra})"


def _columns(row: str, level: int) -> dict[str, str]:
    """SQL of the row's columns that describe its ``level`` % region."""
    def col(name: str) -> str:
        return f"{row}.{quote(name)}"
    return {"ra": col("ra"), "dec": col("dec"), "r": col(f"r{level}"),
            "shape": col(f"shape{level}"),
            "ra_plus": col(f"ra_err_plus_{level}"), "ra_minus": col(f"ra_err_minus_{level}"),
            "dec_plus": col(f"dec_err_plus_{level}"),
            "dec_minus": col(f"dec_err_minus_{level}")}


def exact_region_sql(row: str, level: int, ra: str, dec: str) -> str:
    """SQL boolean: the point (``ra``, ``dec``: SQL in degrees) lies in the published
    ``level`` % region of the alert row whose SQL alias is ``row``."""
    cols = _columns(row, level)
    pra, pdec = _d(ra), _d(dec)
    distance = sky.great_circle_sql(cols["ra"], cols["dec"], pra, pdec)
    return (f"(CASE WHEN {cols['shape']} = 'circle' THEN {distance} <= {cols['r']}"
            f" WHEN {cols['ra_plus']} IS NULL OR {cols['ra_minus']} IS NULL"
            f" OR {cols['dec_plus']} IS NULL OR {cols['dec_minus']} IS NULL THEN TRUE"
            f" ELSE {_box(pra, pdec, cols)} END)")


def is_region_column(e: Expr) -> bool:
    """Whether ``e`` is a region polygon column (``region50``, ``region90``) of an alert row."""
    return e.kind == "value" and e.moc is not None and e.region is not None


def published_regions(args: list[Expr]) -> list[Expr]:
    """The operands of CONTAINS or INTERSECTS, a region polygon column taken as the
    published region it draws (the MOC column of its level, whose point predicate is
    exact); the other operands are kept as they are.

    A region column meets a POINT only: an overlap of the region with a shape or a MOC
    is asked of ``moc50`` / ``moc90`` (tiles, stated as such).
    """
    if not any(is_region_column(a) for a in args):
        return args
    if not any(a.kind == "point" for a in args):
        raise AdqlError("a region column (region50, region90) in CONTAINS or INTERSECTS "
                        "meets a POINT only (the test is then the exact published region); "
                        "for overlaps with shapes or MOCs use moc50 / moc90 (HEALPix tiles)")
    out = []
    for a in args:
        if is_region_column(a):
            assert a.moc is not None
            a = Expr(sql=a.moc[0], kind="moc", meta=a.meta, moc=a.moc, region=a.region,
                     name=a.name)
        out.append(a)
    return out
