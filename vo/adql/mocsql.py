"""MOCs in ADQL predicates: a MOC column, a MOC literal (``MOC('5/1-3 6/')`` in ASCII MOC,
or ``MOC(order, shape)``) and constant shapes, each as a set of order-29 index ranges.

Every operand becomes a subquery of disjoint ``int8range`` tiles (``hpx``): a MOC column
its rows of the region tiles, a literal or a shape bound arrays of ranges (mocpy). Then

* ``INTERSECTS(a, b)``: some tile of ``a`` overlaps some tile of ``b``;
* ``CONTAINS(a, b)`` (``a`` within ``b``): every tile of ``a`` is covered by the tiles of
  ``b`` it overlaps (their overlaps add up to its length; tiles of one MOC are disjoint).

A MOC is its tiles, so MOC–MOC answers are exact. A constant CIRCLE or POLYGON is taken at
``tile_order(size) + 3`` (:mod:`catalog.sky`): as ``b`` of CONTAINS its inner covering (the
cells wholly inside it: for a circle its covering less the cells on its edge, for a polygon
the complement of the covering of the union of the hemispheres outside its edges), as ``a``
its outer covering.
A MOC tile finer than that order lying across the shape's edge may therefore be counted
out of a shape it is inside, never in one it is not.
"""

from __future__ import annotations

import math
from collections.abc import Callable

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
        outside = None
        for n in poly.normals:  # the polygon is the intersection of these hemispheres
            ra = math.degrees(math.atan2(-n[1], -n[0])) % 360.0
            dec = math.degrees(math.asin(max(-1.0, min(1.0, -float(n[2])))))
            cap = _cone(ra, dec, 90.0, depth)
            outside = cap if outside is None else outside.union(cap)
        assert outside is not None
        return outside.complement()
    raise AdqlError("a MOC meets only constant CIRCLEs and POLYGONs (and other MOCs)")


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

    def tiles(self, e: Expr, inner: bool = False) -> str:
        """A subquery of the tiles (``hpx``) of a MOC column, literal or constant shape."""
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
        """SQL boolean: every tile of ``a`` is covered by tiles of ``b``."""
        covered = (f"(SELECT COALESCE(sum(upper(ma.hpx * mb.hpx) - lower(ma.hpx * mb.hpx)), 0)"
                   f" FROM {self.tiles(b, inner=True)} AS mb WHERE mb.hpx && ma.hpx)")
        return (f"NOT EXISTS (SELECT 1 FROM {self.tiles(a)} AS ma"
                f" WHERE {covered} < upper(ma.hpx) - lower(ma.hpx))")

    def point_in(self, p: Expr, m: Expr) -> str:
        """SQL boolean: POINT ``p`` is in a MOC literal's tiles."""
        return (f"EXISTS (SELECT 1 FROM {self.tiles(m)} AS ma"
                f" WHERE ma.hpx @> CAST({p.hpx} AS bigint))")
