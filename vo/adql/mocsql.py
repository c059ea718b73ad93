"""MOCs in ADQL predicates: a MOC column, a MOC literal (``MOC('5/1-3 6/')`` in ASCII MOC,
or ``MOC(order, shape)``) and constant shapes, each as a set of order-29 index ranges.

Every operand becomes a subquery of disjoint ``int8range`` tiles (``hpx``): a MOC column
its rows of the region tiles, a literal or a shape bound arrays of ranges (mocpy). Then

* ``INTERSECTS(a, b)``: some tile of ``a`` overlaps some tile of ``b``;
* ``CONTAINS(a, b)`` (``a`` within ``b``): every tile of ``a`` is covered by the tiles of
  ``b`` it overlaps (their overlaps add up to its length; tiles of one MOC are disjoint).

A MOC from a column of an uploaded table (``MOC(u.moc_column)``: ASCII MOCs, one per row)
is read in SQL from the row's text (:meth:`MocSql.text_tiles`), its tiles merged into
disjoint ranges; every value of the column is checked first (:func:`check_ascii_moc`), so
the SQL never meets text it cannot read.

A MOC is its tiles, so MOC–MOC answers are exact. A constant CIRCLE or POLYGON is taken at
``tile_order(size) + 3`` (:mod:`catalog.sky`): as ``b`` of CONTAINS its inner covering (the
cells wholly inside it: for a circle its covering less the cells on its edge, for a polygon
its covering less the cells that meet a thin strip about each edge), as ``a``
its outer covering.
A MOC tile finer than that order lying across the shape's edge may therefore be counted
out of a shape it is inside, never in one it is not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import Latitude, Longitude
from mocpy import MOC

from catalog import sky
from vo.adql import geometry as geo
from vo.adql.scope import Expr
from vo.errors import AdqlError
from vo.tables import TILES_RELATION

Bind = Callable[..., str]

#: Finer orders than the tile order of a shape's size at which shapes meet MOCs.
FINER = 3

#: The deepest order of a MOC (the tiles are order-29 indices).
MAX_ORDER = 29


#: An ASCII MOC (MOC 2.0, space only) as :meth:`MocSql.text_tiles` reads it: each order
#: ``N/`` followed by cells ``i`` or ranges ``i-j``, separated by spaces or commas.
_CELLS = r"\d+(?:-\d+)?"
_ORDER_GROUP = rf"\d+/(?:[\s,]*{_CELLS}(?:[\s,]+{_CELLS})*)?"
_ASCII_MOC = re.compile(rf"\s*(?:{_ORDER_GROUP}(?:[\s,]+{_ORDER_GROUP})*)?[\s,]*")


@dataclass(frozen=True, slots=True)
class TextMoc:
    """A MOC given as ASCII MOC text in SQL (a column of an uploaded table): ``sql``."""

    sql: str


def check_ascii_moc(text: str) -> str | None:
    """Why ``text`` is not an ASCII MOC that SQL can read (None when it is one): orders
    0 to 29, cells inside their order, ranges in increasing order."""
    if not _ASCII_MOC.fullmatch(text):
        return "not an ASCII MOC (order/cells, e.g. '3/1-5 7 4/12')"
    order = 0
    for word in re.split(r"[\s,]+", text.strip()):
        head, slash, cell = word.rpartition("/")
        if slash:
            order = int(head)
            if order > MAX_ORDER:
                return f"order {order} is over {MAX_ORDER}"
        if cell:
            lo, _, hi = cell.partition("-")
            if int(hi or lo) < int(lo) or int(hi or lo) >= 12 * 4**order:
                return f"{order}/{cell} is not a range of cells of order {order}"
    return None


def check_moc_values(column: str, values: Iterable[object]) -> None:
    """An ADQL error naming the first value of an uploaded column that is not an ASCII MOC
    (NULLs pass: a NULL MOC has no tiles)."""
    for row, value in enumerate(values, 1):
        if value is None:
            continue
        why = check_ascii_moc(str(value))
        if why is not None:
            raise AdqlError(f"MOC({column}): row {row} is {why}: {str(value)[:40]!r}")


def moc_literal(text: str) -> MOC:
    """The MOC of an ASCII MOC string (an ADQL error when it is not one)."""
    try:
        moc = MOC.from_string(text, format="ascii")
    except Exception as exc:  # mocpy raises bare Exceptions for text it cannot read
        raise AdqlError(f"MOC(): not an ASCII MOC ({exc})") from None
    return moc


def shape_moc(g: Expr, order: int | None = None, inner: bool = False) -> MOC:
    """The outer (or ``inner``) covering of a constant CIRCLE or POLYGON, at ``order`` or
    ``tile_order(size) + FINER``."""
    if g.kind == "circle" and g.is_const:
        ra, dec, r = (float(p.const) for p in g.parts)  # type: ignore[arg-type]
        geo.check_position(ra, dec)
        if not 0 <= r <= 180:
            raise AdqlError(f"circle radius {r} is outside [0, 180] degrees")
        depth = order if order is not None else min(sky.tile_order(max(r, 1e-6)) + FINER, 29)
        outer = _cone(ra, dec, r, depth)
        if not inner or r >= 180.0:
            return outer
        # the cells of the covering that meet the edge are not wholly inside (mocpy's
        # cone of the complement, a cap of nearly 180 degrees, is too coarse to use)
        edge = MOC.from_ring(Longitude(ra * u.deg), Latitude(dec * u.deg),
                             internal_radius=max(r - 1e-9, 0.0) * u.deg,
                             external_radius=(r + 1e-9) * u.deg, max_depth=depth)
        return outer.difference(edge)
    if g.kind == "polygon" and isinstance(g.polygon, geo.ConvexPolygon):
        poly = g.polygon
        depth = order if order is not None else min(
            sky.tile_order(max(poly.size_deg(), 1e-6)) + FINER, 29)
        if not inner:
            return poly.moc(depth)
        return poly.moc(depth).difference(_edge_strips(poly, depth))
    raise AdqlError("a MOC meets only constant CIRCLEs and POLYGONs (and other MOCs)")


#: Half-width (radians) of the strip about a polygon edge whose cells are on the edge.
STRIP = 1e-7


def _edge_strips(poly: geo.ConvexPolygon, depth: int) -> MOC:
    """The cells that meet an edge of ``poly``: those of thin quadrilaterals about each
    edge (``STRIP`` to each side and beyond each end; every point of the arc is at least
    that far inside its quadrilateral). The polygon's covering less these is its inner
    covering: a cell that meets the polygon and no edge lies inside it. (The coverings of
    the hemispheres outside the edges, used before, took seconds for a small polygon.)"""
    vs = [sky.unit_vector(ra, dec) for ra, dec in poly.vertices]
    strips = None
    for i, n in enumerate(poly.normals):
        a, b = vs[i], vs[(i + 1) % len(vs)]
        t = (b - a) / np.linalg.norm(b - a)
        quad = np.array([a - STRIP * (t + n), b + STRIP * (t - n), b + STRIP * (t + n),
                         a - STRIP * (t - n)])
        quad /= np.linalg.norm(quad, axis=1)[:, None]
        ras = np.degrees(np.arctan2(quad[:, 1], quad[:, 0])) % 360.0
        decs = np.degrees(np.arcsin(np.clip(quad[:, 2], -1.0, 1.0)))
        strip = MOC.from_polygon(Longitude(ras * u.deg), Latitude(decs * u.deg),
                                 max_depth=depth)
        strips = strip if strips is None else strips.union(strip)
    assert strips is not None
    return strips


def _cone(ra: float, dec: float, radius: float, depth: int) -> MOC:
    if radius >= 180.0:
        return MOC.from_depth29_ranges(0, np.array([[0, 12 * 4**29]], dtype=np.uint64))
    return MOC.from_cone(Longitude(ra * u.deg), Latitude(dec * u.deg),
                         radius=max(radius, 1e-9) * u.deg, max_depth=depth)


class MocSql:
    """SQL of MOC predicates; ``bind`` turns a value into a parameter."""

    def __init__(self, bind: Bind) -> None:
        self.bind = bind

    def literal(self, moc: MOC) -> Expr:
        """A MOC literal as an expression (its ranges bound; selected as its ranges)."""
        ranges = [[int(lo), int(hi)] for lo, hi in moc.to_depth29_ranges]
        return Expr(self.bind(ranges, "bigint[]") if ranges else "NULL", kind="moc",
                    const=moc.to_string(format="ascii", fold=0).strip(), name="moc",
                    polygon=moc)

    def text_moc(self, text_sql: str) -> Expr:
        """The MOC of ASCII MOC text in SQL (checked beforehand: :func:`check_moc_values`),
        selected as its sorted ranges like a MOC column (NULL when it has no cells)."""
        tiles = self.text_tiles(text_sql)
        return Expr(f"(SELECT array_agg(ARRAY[lower(mt.hpx), upper(mt.hpx)] ORDER BY "
                    f"lower(mt.hpx)) FROM {tiles} AS mt)", kind="moc", name="moc",
                    polygon=TextMoc(text_sql))

    @staticmethod
    def text_tiles(text_sql: str) -> str:
        """A subquery of the disjoint tiles (``hpx``) of ASCII MOC text in SQL.

        The text is split into words at spaces and commas; a word ``N/...`` starts order
        N, which holds for the words after it: the order of a word is the one of the last
        ``N/`` word up to it (a running maximum of position * 100 + order, modulo 100:
        orders are below 100). Cells ``i`` or ``i-j`` at order N are order-29 ranges
        ``[i << 2(29 - N), (j + 1) << 2(29 - N))``; ``range_agg`` merges them, so that the
        tiles are disjoint as a MOC column's are.
        """
        words = (f"regexp_split_to_table(btrim({text_sql}), '[[:space:],]+')"
                 " WITH ORDINALITY AS w(word, n)")
        order = ("max(CASE WHEN w.word ~ '^[0-9]+/' THEN w.n * 100 + CAST(substring(w.word"
                 " FROM '^([0-9]+)/') AS bigint) END) OVER (ORDER BY w.n) % 100")
        cells = (f"SELECT regexp_replace(w.word, '^[0-9]+/', '') AS cell, {order} AS o"
                 f" FROM {words}")
        first = "CAST(split_part(c.cell, '-', 1) AS bigint)"
        last = ("CAST(COALESCE(NULLIF(split_part(c.cell, '-', 2), ''), "
                "split_part(c.cell, '-', 1)) AS bigint)")
        shift = f"CAST(2 * ({MAX_ORDER} - c.o) AS integer)"
        return (f"(SELECT unnest(range_agg(int8range({first} << {shift}, ({last} + 1) << "
                f"{shift}))) AS hpx FROM ({cells}) AS c WHERE c.cell <> '')")

    def tiles(self, e: Expr, inner: bool = False) -> str:
        """A subquery of the tiles (``hpx``) of a MOC column, literal, uploaded MOC or
        constant shape."""
        if e.kind == "moc" and isinstance(e.polygon, TextMoc):
            return self.text_tiles(e.polygon.sql)
        if e.kind == "moc" and e.moc is not None:
            rev, level = e.moc
            return (f"(SELECT hpx FROM {TILES_RELATION} WHERE revision_pk = {rev}"
                    f" AND level = {int(level)})")
        moc = e.polygon if e.kind == "moc" else shape_moc(e, inner=inner)
        assert isinstance(moc, MOC)
        ranges = moc.to_depth29_ranges
        lo = self.bind([int(x) for x in ranges[:, 0]], "bigint[]")
        hi = self.bind([int(x) for x in ranges[:, 1]], "bigint[]")
        return f"(SELECT int8range(c.lo, c.hi) AS hpx FROM unnest({lo}, {hi}) AS c(lo, hi))"

    def intersects(self, a: Expr, b: Expr) -> str:
        """SQL boolean: some tile of ``a`` overlaps some tile of ``b``."""
        return (f"EXISTS (SELECT 1 FROM {self.tiles(a)} AS ma, {self.tiles(b)} AS mb"
                " WHERE ma.hpx && mb.hpx)")

    def within(self, a: Expr, b: Expr) -> str:
        """SQL boolean: every tile of ``a`` is covered by tiles of ``b`` (false for a MOC
        column or uploaded MOC that is NULL)."""
        covered = (f"(SELECT COALESCE(sum(upper(ma.hpx * mb.hpx) - lower(ma.hpx * mb.hpx)), 0)"
                   f" FROM {self.tiles(b, inner=True)} AS mb WHERE mb.hpx && ma.hpx)")
        within = (f"NOT EXISTS (SELECT 1 FROM {self.tiles(a)} AS ma"
                  f" WHERE {covered} < upper(ma.hpx) - lower(ma.hpx))")
        if a.moc is None and not isinstance(a.polygon, TextMoc):
            return within  # a literal or a shape: an empty one lies in anything
        # a MOC column or uploaded MOC with no tiles is a NULL: it lies in nothing
        return f"(EXISTS (SELECT 1 FROM {self.tiles(a)} AS mn) AND {within})"

    def point_in(self, p: Expr, m: Expr) -> str:
        """SQL boolean: POINT ``p`` is in a MOC literal's tiles."""
        return (f"EXISTS (SELECT 1 FROM {self.tiles(m)} AS ma"
                f" WHERE ma.hpx @> CAST({p.hpx} AS bigint))")
