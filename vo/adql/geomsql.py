"""ADQL geometry in SQL: POINT, CIRCLE, POLYGON, BOX, CONTAINS, INTERSECTS, DISTANCE, ...

Points carry their order-29 HEALPix index when one exists (an indexed column, a value
computed at upload, or ``nufair.hpx29(ra, dec)``); constant shapes carry tile coverings.
Predicates are an index pre-filter (a BitmapOr of ``hpx29`` ranges, or the SP-GiST tiles of
a MOC column) AND the exact test (great-circle distance, polygon edge normals, and for a
point in a MOC column, or a constant circle, polygon or box and a region column, the alert's
published circle or box, :mod:`vo.adql.regions` and :mod:`vo.adql.regionpolygons`). The distance
is the one of :func:`catalog.sky.great_circle_sql`, the catalog's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from mocpy import MOC

from catalog import sky
from vo.adql import geometry as geo
from vo.adql.mocsql import MocSql, TextMoc
from vo.adql.regionpairs import (
    region_in_region_sql,
    region_meets_region_sql,
    tiles_meet_sql,
    tiles_within_sql,
)
from vo.adql.regionpolygons import RegionPolygonSql
from vo.adql.regions import circle_in_region_sql, circle_meets_region_sql, exact_region_sql
from vo.adql.scope import Expr
from vo.adql.uploadcircles import UploadCircles, circles_of, folded
from vo.adql.uploads import UploadColumn
from vo.errors import AdqlError
from vo.tables import TILES_RELATION, ColumnInfo

Bind = Callable[..., str]


def _is_region(e: Expr) -> bool:
    """Whether ``e`` is a region column taken as its published region (marked exact)."""
    return e.kind == "moc" and e.exact and e.moc is not None and e.region is not None

#: Metadata (units, UCDs) of the computed columns of geometry functions.
_DISTANCE = ColumnInfo("distance", "double", "Angular distance between two points.",
                       unit="deg", ucd="pos.angDistance")
_AREA = ColumnInfo("area", "double", "Area on the sky.", unit="deg**2", ucd="phys.angArea")
_COORDS = (ColumnInfo("coord1", "double", "Right ascension (ICRS).", unit="deg",
                      ucd="pos.eq.ra"),
           ColumnInfo("coord2", "double", "Declination (ICRS).", unit="deg",
                      ucd="pos.eq.dec"))


def _num(e: Expr) -> float:
    """The constant number of ``e`` (an ADQL error when it is not one)."""
    if not isinstance(e.const, int | float):
        raise AdqlError("this geometry needs constant numeric arguments")
    return float(e.const)


class GeometrySql:
    """Builds geometry expressions and predicates; ``bind`` turns a value into a parameter."""

    def __init__(self, bind: Bind, point_index: dict[tuple[str, str], tuple[str, bool]],
                 upload_columns: dict[str, tuple[str, UploadColumn]] | None = None) -> None:
        self.bind = bind
        self.point_index = point_index
        #: SQL of a column of an uploaded table -> (the table's SQL alias, its values).
        self.upload_columns = upload_columns if upload_columns is not None else {}
        self.n_circles = 0
        self.mocs = MocSql(bind)
        self.regions = RegionPolygonSql(bind)

    # ------------------------------------------------------------ constructors
    def point(self, ra: Expr, dec: Expr) -> Expr:
        """POINT(ra, dec), with the SQL of its order-29 index (column, bind or hpx29())."""
        sql = f"ARRAY[CAST({ra.sql} AS double precision), CAST({dec.sql} AS double precision)]"
        e = Expr(sql, kind="point", parts=(ra, dec), name="point")
        known = self.point_index.get((ra.sql, dec.sql))
        if known is not None:
            e.hpx, e.indexed = known
        elif ra.is_const and dec.is_const:
            geo.check_position(_num(ra), _num(dec))
            e.hpx = self.bind(int(sky.point_index(_num(ra), _num(dec))), "bigint")
        else:
            e.hpx = f"nufair.hpx29({ra.sql}, {dec.sql})"
        return e

    def circle(self, centre: Expr, radius: Expr) -> Expr:
        """CIRCLE(centre, radius) as an ARRAY[ra, dec, radius] with its parts kept
        (arithmetic of constants as constants)."""
        ra, dec = (folded(p) for p in centre.parts[:2])
        radius = folded(radius)
        sql = (f"ARRAY[CAST({ra.sql} AS double precision), CAST({dec.sql} AS double "
               f"precision), CAST({radius.sql} AS double precision)]")
        return Expr(sql, kind="circle", parts=(ra, dec, radius), name="circle")

    def polygon(self, vertices: list[tuple[float, float]]) -> Expr:
        """POLYGON of constant vertices (convex; checked)."""
        poly = geo.ConvexPolygon.from_vertices(vertices)
        return self._polygon_expr(poly)

    def box(self, ra: Expr, dec: Expr, width: Expr, height: Expr) -> Expr:
        """BOX of constant centre and size, as the polygon of its corners."""
        poly = geo.box_polygon(_num(ra), _num(dec), _num(width), _num(height))
        return self._polygon_expr(poly)

    def polygon_of(self, vertices: list[tuple[Expr, Expr]]) -> Expr:
        """POLYGON of vertices: of constants checked (convex) now; of columns or other
        expressions kept as SQL, their polygon taken as convex when it is tested."""
        if all(x.is_const and y.is_const for x, y in vertices):
            return self.polygon([(_num(x), _num(y)) for x, y in vertices])
        if len(vertices) < 3:
            raise AdqlError("a POLYGON needs at least three vertices")
        parts = tuple(c for v in vertices for c in v)
        sql = "ARRAY[" + ", ".join(f"CAST({c.sql} AS double precision)" for c in parts) + "]"
        return Expr(sql, kind="polygon", parts=parts, name="polygon")

    def box_of(self, ra: Expr, dec: Expr, width: Expr, height: Expr) -> Expr:
        """BOX: of constants the polygon of its corners now, else the same corners in SQL."""
        if all(e.is_const for e in (ra, dec, width, height)):
            return self.box(ra, dec, width, height)

        def corner(sa: str, sd: str) -> tuple[Expr, Expr]:
            a = Expr(f"({ra.sql} {sa} CAST({width.sql} AS double precision) / 2.0)")
            d = Expr(f"GREATEST(-90.0, LEAST(90.0, {dec.sql} {sd} "
                     f"CAST({height.sql} AS double precision) / 2.0))")
            return a, d
        return self.polygon_of([corner("-", "-"), corner("+", "-"), corner("+", "+"),
                                corner("-", "+")])

    def _in_sql_polygon(self, p: Expr, poly: Expr) -> str:
        """SQL boolean: ``p`` lies inside a convex polygon whose vertices are SQL: on the
        inner side of every edge's great circle (triple products of the vertices' unit
        vectors, signed by the polygon's winding)."""
        vs = [sky.unit_vector_sql(poly.parts[i].sql, poly.parts[i + 1].sql)
              for i in range(0, len(poly.parts), 2)]
        pv = sky.unit_vector_sql(p.parts[0].sql, p.parts[1].sql)

        def det(a: tuple[str, str, str], b: tuple[str, str, str],
                c: tuple[str, str, str]) -> str:
            return (f"(({a[1]} * {b[2]} - {a[2]} * {b[1]}) * {c[0]} + "
                    f"({a[2]} * {b[0]} - {a[0]} * {b[2]}) * {c[1]} + "
                    f"({a[0]} * {b[1]} - {a[1]} * {b[0]}) * {c[2]})")
        winding = f"sign({det(vs[0], vs[1], vs[2])})"
        edges = [f"({winding} * {det(vs[i], vs[(i + 1) % len(vs)], pv)} >= 0)"
                 for i in range(len(vs))]
        return "(" + " AND ".join(edges) + ")"

    def _polygon_expr(self, poly: geo.ConvexPolygon) -> Expr:
        flat = [x for v in poly.vertices for x in v]
        sql = self.bind(flat, "double precision[]")
        return Expr(sql, kind="polygon", polygon=poly, name="polygon")

    # --------------------------------------------------------------- functions
    def distance(self, a: Expr, b: Expr) -> Expr:
        """DISTANCE(a, b) in degrees, between two POINTs."""
        if a.kind != "point" or b.kind != "point":
            raise AdqlError("DISTANCE takes two POINTs (or four numbers)")
        return Expr(self._dist(a, b), name="distance", meta=_DISTANCE)

    @staticmethod
    def _dist(a: Expr, b: Expr) -> str:
        return sky.great_circle_sql(a.parts[0].sql, a.parts[1].sql, b.parts[0].sql,
                                    b.parts[1].sql)

    def coord(self, g: Expr, i: int) -> Expr:
        """COORD1 (``i`` = 0) or COORD2 (``i`` = 1) of a POINT."""
        if g.kind != "point":
            raise AdqlError(f"COORD{i + 1} takes a POINT")
        return Expr(f"CAST({g.parts[i].sql} AS double precision)", name=f"coord{i + 1}",
                    meta=_COORDS[i])

    def area(self, g: Expr) -> Expr:
        """AREA of a CIRCLE, POLYGON or MOC, in square degrees."""
        if g.kind == "circle":
            r = g.parts[2].sql
            k = (180 / math.pi) ** 2 * 2 * math.pi
            return Expr(f"({k!r} * (1 - cos(radians({r}))))", name="area", meta=_AREA)
        if g.kind == "polygon" and g.polygon is not None:
            assert isinstance(g.polygon, geo.ConvexPolygon)
            return Expr(self.bind(g.polygon.area_deg2()), const=g.polygon.area_deg2(),
                        name="area", meta=_AREA)
        if g.kind == "moc" and g.moc is not None:
            rev, level = g.moc
            return Expr(f"(SELECT sum(upper(m.hpx) - lower(m.hpx)) * {sky.PIXAREA29_DEG2!r}"
                        f" FROM {TILES_RELATION} m WHERE m.revision_pk = {rev}"
                        f" AND m.level = {int(level)})", name="area", meta=_AREA)
        if g.kind == "moc" and isinstance(g.polygon, TextMoc):
            return Expr(f"(SELECT sum(upper(m.hpx) - lower(m.hpx)) * {sky.PIXAREA29_DEG2!r}"
                        f" FROM {self.mocs.text_tiles(g.polygon.sql)} AS m)", name="area",
                        meta=_AREA)
        if g.kind == "moc" and isinstance(g.polygon, MOC):
            value = float(g.polygon.sky_fraction) * 4 * math.pi * (180 / math.pi) ** 2
            return Expr(self.bind(value, "double precision"), const=value, name="area",
                        meta=_AREA)
        raise AdqlError("AREA takes a CIRCLE, a constant POLYGON or a MOC")

    def centroid(self, g: Expr) -> Expr:
        """CENTROID of a CIRCLE or POLYGON, as a POINT."""
        if g.kind == "circle":
            return self.point(g.parts[0], g.parts[1])
        if g.kind == "polygon" and isinstance(g.polygon, geo.ConvexPolygon):
            ra, dec = g.polygon.centroid()
            return self.point(Expr(self.bind(ra), const=ra), Expr(self.bind(dec), const=dec))
        raise AdqlError("CENTROID takes a CIRCLE or POLYGON")

    # -------------------------------------------------------------- predicates
    def contains(self, a: Expr, b: Expr) -> str:
        """SQL boolean: geometry ``a`` lies inside ``b``."""
        if a.kind == "point":
            return self._point_in(a, b)
        if _is_region(b) or _is_region(a):
            return self._region_contains(a, b)
        if "moc" in (a.kind, b.kind) and b.kind != "point":
            return self.mocs.within(a, b)
        if a.kind == "circle" and b.kind == "circle":
            d = self._dist(Expr("", parts=a.parts[:2]), Expr("", parts=b.parts[:2]))
            return f"({d} + {a.parts[2].sql} <= {b.parts[2].sql})"
        raise AdqlError(f"CONTAINS({a.kind.upper()}, {b.kind.upper()}) is not supported")

    def _point_in(self, a: Expr, b: Expr) -> str:
        """SQL boolean: POINT ``a`` lies inside ``b``."""
        if b.kind == "circle":
            exact = f"{self._dist(a, Expr('', parts=b.parts[:2]))} <= {b.parts[2].sql}"
            if a.indexed and b.is_const:
                ranges = geo.circle_ranges(_num(b.parts[0]), _num(b.parts[1]),
                                           _num(b.parts[2]))
                return f"({self._in_ranges(a, ranges)} AND {exact})"
            return f"({exact})"
        if b.kind == "polygon" and b.polygon is None:
            return self._in_sql_polygon(a, b)
        if b.kind == "polygon":
            poly = b.polygon
            assert isinstance(poly, geo.ConvexPolygon)
            exact = self._in_polygon(a, poly)
            if a.indexed:
                return f"({self._in_ranges(a, poly.ranges())} AND {exact})"
            return f"({exact})"
        if b.kind == "moc" and b.moc is None:
            return self.mocs.point_in(a, b)
        if b.kind == "moc" and b.moc is not None:
            rev, level = b.moc
            tiles = (f"EXISTS (SELECT 1 FROM {TILES_RELATION} m WHERE m.revision_pk = {rev}"
                     f" AND m.level = {int(level)} AND m.hpx @> CAST({a.hpx} AS bigint))")
            return f"({tiles} AND {self.in_region(a, b)})"
        raise AdqlError(f"CONTAINS({a.kind.upper()}, {b.kind.upper()}) is not supported")

    def intersects(self, a: Expr, b: Expr) -> str:
        """SQL boolean: geometries ``a`` and ``b`` overlap."""
        if b.kind == "point" and a.kind != "point":
            a, b = b, a
        if a.kind == "point":
            return self.contains(a, b)
        if a.kind == "moc" and b.kind != "moc":
            a, b = b, a
        if _is_region(b):
            return self._meets_region(a, b)
        if b.kind == "moc" and (a.kind == "moc" or b.moc is None):
            return self.mocs.intersects(a, b)
        if b.kind == "moc" and b.moc is not None:
            return self._tiles_meeting(a, b)
        if a.kind == "circle" and b.kind == "circle":
            d = self._dist(Expr("", parts=a.parts[:2]), Expr("", parts=b.parts[:2]))
            return f"({d} <= {a.parts[2].sql} + {b.parts[2].sql})"
        raise AdqlError(f"INTERSECTS({a.kind.upper()}, {b.kind.upper()}) is not supported")

    def _meets_region(self, a: Expr, b: Expr) -> str:
        """SQL boolean: INTERSECTS(a, b) with ``b`` a region column: the tiles are the
        index, the published shapes decide (another region: :mod:`vo.adql.regionpairs`;
        a CIRCLE of uploaded columns: its rows' coverings are the index)."""
        assert b.moc is not None and b.region is not None
        if _is_region(a):
            assert a.moc is not None and a.region is not None
            # The shapes first: PostgreSQL runs the cheap quals before the subquery.
            shape = region_meets_region_sql(a.region, a.moc[1], b.region, b.moc[1])
            return f"({shape} AND {tiles_meet_sql(a.moc[0], a.moc[1], b.moc[0], b.moc[1])})"
        if a.kind == "circle" and not a.is_const:
            circles = self.column_circles(a)
            shape = circle_meets_region_sql(b.region, b.moc[1], *(p.sql for p in a.parts))
            return f"({circles.pairs_sql(*b.moc)} AND {shape})"
        if a.kind == "moc":
            raise AdqlError("a region column (region50, region90) against a MOC is refused: "
                            "use moc50 / moc90 (HEALPix tiles)")
        tiles = self._tiles_meeting(a, b)
        if isinstance(a.polygon, geo.ConvexPolygon):
            shape = self.regions.polygon_meets_region(b.region, b.moc[1], a.polygon)
        else:
            assert a.kind == "circle"
            shape = circle_meets_region_sql(b.region, b.moc[1], *(p.sql for p in a.parts))
        return f"({tiles} AND {shape})"

    def _region_contains(self, a: Expr, b: Expr) -> str:
        """SQL boolean: CONTAINS(a, b) where ``b`` (a constant CIRCLE or POLYGON lies in the
        region) or ``a`` (the region lies in the constant CIRCLE or POLYGON) is a region
        column: the region's tiles meet the shape's covering (the index), and the
        published shape decides (:mod:`vo.adql.regions`, :mod:`vo.adql.regionpolygons`);
        a region without extents is its tiles, whose containment then decides."""
        region, shape = (b, a) if _is_region(b) else (a, b)
        assert region.moc is not None and region.region is not None
        row, level = region.region, region.moc[1]
        if _is_region(shape):  # a in b, two regions: vo.adql.regionpairs
            assert a.moc is not None and a.region is not None and b.moc is not None
            tiles = tiles_within_sql(a.moc[0], a.moc[1], b.moc[0], b.moc[1])
            test = region_in_region_sql(a.region, a.moc[1], row, level, self.regions, tiles)
            return f"({test} AND {tiles_meet_sql(b.moc[0], b.moc[1], a.moc[0], a.moc[1])})"
        if shape.kind == "circle" and not shape.is_const:
            if shape is b:
                raise AdqlError("a region column (region50, region90) in a CIRCLE of columns "
                                "is refused: use a constant CIRCLE, or moc50 / moc90")
            circles = self.column_circles(shape)
            ra, dec, radius = (p.sql for p in shape.parts)
            test = circle_in_region_sql(row, level, ra, dec, radius,
                                        tiles_only=circles.within_sql(*region.moc))
            return f"({circles.pairs_sql(*region.moc)} AND {test})"
        poly = shape.polygon if isinstance(shape.polygon, geo.ConvexPolygon) else None
        if poly is None and shape.kind != "circle":
            raise AdqlError(f"CONTAINS({a.kind.upper()}, {b.kind.upper()}) is not supported")
        tiles_only = self.mocs.within(a, b)
        if shape is a and poly is not None:
            test = self.regions.polygon_in_region(row, level, poly, tiles_only)
        elif shape is a and shape.kind == "circle":
            ra, dec, radius = (p.sql for p in a.parts)
            test = circle_in_region_sql(row, level, ra, dec, radius, tiles_only=tiles_only)
        elif poly is not None:
            test = self.regions.region_in_polygon(row, level, poly, tiles_only)
        else:
            ra, dec, radius = (p.sql for p in b.parts)
            test = self.regions.region_in_circle(row, level, ra, dec, radius, tiles_only)
        return f"({self._tiles_meeting(shape, region)} AND {test})"

    # ----------------------------------------------------------------- helpers
    def column_circles(self, circle: Expr) -> UploadCircles:
        """The per-row coverings of a CIRCLE of columns of one uploaded table."""
        self.n_circles += 1
        return circles_of(circle, self.upload_columns, self.bind, f"uc{self.n_circles}")

    def _tiles_meeting(self, a: Expr, b: Expr) -> str:
        """SQL boolean: the tiles of MOC column ``b`` meet the covering of constant shape
        ``a``. An init plan: the covering's ranges probe the tile index once for the whole
        query, and the rows are then fetched by id (the planner, left to itself, ran the
        exact test on every row first: 42 ms at 10 000 alerts)."""
        assert b.moc is not None
        ranges = self._covering(a)
        rev, level = b.moc
        lo = self.bind([int(x) for x in ranges[:, 0]], "bigint[]")
        hi = self.bind([int(x) for x in ranges[:, 1]], "bigint[]")
        return (f"{rev} = ANY(ARRAY(SELECT m.revision_pk FROM unnest({lo}, {hi}) AS "
                f"c(lo, hi) JOIN {TILES_RELATION} m ON m.hpx && int8range(c.lo, c.hi)"
                f" WHERE m.level = {int(level)}))")

    @staticmethod
    def in_region(p: Expr, moc: Expr) -> str:
        """SQL boolean: POINT ``p`` lies in the exact region that MOC column ``moc`` covers.

        The tiles are only a covering (the pre-filter); the region itself is the circle or
        box of the row's columns (:mod:`vo.adql.regions`).
        """
        assert moc.moc is not None
        if moc.region is None:
            return "TRUE"  # a MOC of no alert row: the tiles are all there is
        return exact_region_sql(moc.region, moc.moc[1], p.parts[0].sql, p.parts[1].sql)

    def _covering(self, g: Expr) -> Any:
        # Two orders finer than a pre-filter: the overlap with a MOC is decided on the tiles.
        if g.kind == "circle" and g.is_const:
            return geo.circle_ranges(_num(g.parts[0]), _num(g.parts[1]), _num(g.parts[2]),
                                     finer=3)
        if g.kind == "polygon" and isinstance(g.polygon, geo.ConvexPolygon):
            return g.polygon.ranges(finer=3)
        raise AdqlError("INTERSECTS with a MOC needs a constant CIRCLE or POLYGON")

    def _in_ranges(self, p: Expr, ranges: np.ndarray) -> str:
        terms = []
        for lo, hi in ranges:
            terms.append(f"({p.hpx} >= {self.bind(int(lo), 'bigint')} AND {p.hpx} < "
                         f"{self.bind(int(hi), 'bigint')})")
        return "(" + " OR ".join(terms) + ")" if terms else "FALSE"

    def _in_polygon(self, p: Expr, poly: geo.ConvexPolygon) -> str:
        x, y, z = sky.unit_vector_sql(p.parts[0].sql, p.parts[1].sql)
        tests = []
        for nx, ny, nz in poly.normals:
            tests.append(f"({self.bind(float(nx))} * {x} + {self.bind(float(ny))} * {y} + "
                         f"{self.bind(float(nz))} * {z} >= 0)")
        return "(" + " AND ".join(tests) + ")"
