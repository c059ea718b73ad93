"""Exact predicates between a constant POLYGON (or BOX) and the published region of a row.

:mod:`vo.adql.regions` tests a point or a circle against the published region of an alert
row (a circle of radius ``r{level}``, or an RA/Dec box). This module adds a constant convex
POLYGON — an ADQL BOX is one too: :func:`vo.adql.geometry.box_polygon` takes it, as the
rest of the project does, as the polygon of its four corners joined by great circles —
in ``INTERSECTS(POLYGON, region)``, ``CONTAINS(POLYGON, region)`` (the polygon lies in the
region) and ``CONTAINS(region, POLYGON)`` (the region lies in the polygon), and a CIRCLE in
``CONTAINS(region, CIRCLE)``. The tiles stay the index (:mod:`vo.adql.geomsql`); this is
the test that refines the candidates. A region without extents (a scan contour without
its box) is its tiles, and the tiles decide.

The polygon's edges travel as SQL arrays, one element per edge, unnested next to the row's
own quantities (a box's corners, meridians and parallels, a circle's centre), so that the
SQL does not grow with the number of vertices. Each edge is a great-circle arc from ``A``
to ``B`` with inward unit normal ``n = A × B / |A × B|`` (the polygon is the intersection
of the hemispheres ``n · x >= 0``) and the tangents ``tA = n × A`` (at A, towards B) and
``tB = B × n`` (at B, towards A). A point ``x`` of the edge's great circle lies on the arc
iff ``x · tA >= 0`` and ``x · tB >= 0``; the foot of any point ``q`` on that circle
(``q - (q · n) n``) has the same dot products as ``q``, so the same test tells whether
the point of the circle nearest to ``q`` lies on the arc. Then, for a region circle
(centre ``c``, radius ``r``):

* meets the polygon iff ``c`` is inside or some edge is within ``r`` of ``c``: the
  distance to an arc is ``asin |c · n|`` when the foot lies on it, else the distance to
  its nearer end (a circle meets a closed set iff the set comes within its radius);
* holds the polygon iff the polygon's farthest point from ``c`` is within ``r``: on an edge,
  the antipode's foot (``180 - asin |c · n|``, when ``c · tA <= 0`` and ``c · tB <= 0``)
  or an end, and ``-c`` not inside the polygon;
* lies in the polygon iff it lies in every edge's hemisphere: ``asin(c · n) >= r``.

An RA/Dec box is not a polygon of great circles: its constant-RA edges are meridian arcs
(great circles), its constant-Dec edges are parallels (small circles). It reads as
:func:`catalog.sky.in_box` reads it (:func:`vo.adql.regions.extents`). Then:

* the polygon meets the box iff a vertex of the polygon lies in the box, a corner of the
  box lies in the polygon, or an edge crosses an edge of the box (two connected closed
  sets meet iff one holds a point of the other or their boundaries meet; a box 360 degrees
  wide has its "corners" on both parallels). A polygon edge crosses a meridian arc at
  ``± n × m`` (``m``: the meridian plane's normal), on the meridian's half and within
  its Dec range; it crosses the parallel ``δ`` where ``cos δ (n_x cos α + n_y sin α) =
  -n_z sin δ``, i.e. ``α = φ ± acos(-n_z tan δ / h)`` (``h e^{iφ} = n_x + i n_y``),
  within the box's RA range. Coinciding circles (an edge on a meridian or the equator)
  cross nowhere else than at an end, which the point tests find;
* the polygon lies in the box iff both projections of it do (the box is a product in
  RA and Dec): its Dec range (vertices and, where an edge's highest or lowest point lies
  on it, ``± acos |n_z|``) and its RA range. A convex polygon without a pole spans less
  than 180 degrees of RA and RA is monotonic along a great circle that misses the poles,
  so its RA range is that of its vertices; one holding a pole spans every RA. Both are
  constants, computed in Python;
* the box lies in a hemisphere ``v · x >= t`` (an edge's: ``v = n``, ``t = 0``; a circle's:
  ``v = c``, ``t = cos ρ``) iff the least ``v · x`` over the box reaches ``t``: at a corner,
  at the trough of a meridian arc (``v · x = A cos δ + B sin δ``, least at
  ``δ = atan2(-B, -A)``), at the trough of a parallel (least at the RA of ``-v``, value
  ``-h cos δ + v_z sin δ``), or at ``-v`` itself when the box holds it.

Boundary points count as inside (closed regions), as for points and circles.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from catalog import sky
from vo.adql.geometry import ConvexPolygon
from vo.adql.regions import (
    as_double,
    box_sql,
    by_shape,
    columns,
    extents,
    ra_offset_sql,
)

Bind = Callable[..., str]
Vec = tuple[str, str, str]

#: Per-edge arrays, in this order: the ends A and B and their (ra, dec) for A, the inward
#: normal n, the tangents tA and tB, and n's horizontal length h, its RA φ, and the
#: (ra, dec) of -n.
_EDGE_COLUMNS = ("ax", "ay", "az", "bx", "by", "bz", "ara", "adec", "nx", "ny", "nz",
                 "tax", "tay", "taz", "tbx", "tby", "tbz", "h", "phi", "mra", "mdec")


@dataclass(frozen=True, slots=True)
class PolygonConstants:
    """What SQL needs of a constant convex polygon: per-edge columns (:data:`_EDGE_COLUMNS`)
    and its projections: Dec range, RA range (``ra_mid ± ra_half``), and whether it holds
    a pole (then it spans every RA)."""

    edges: dict[str, list[float]]
    dec_min: float
    dec_max: float
    ra_mid: float
    ra_half: float
    holds_pole: bool


def _radec(v: NDArray[np.float64]) -> tuple[float, float]:
    ra = math.degrees(math.atan2(float(v[1]), float(v[0]))) % 360.0
    dec = math.degrees(math.atan2(float(v[2]), math.hypot(float(v[0]), float(v[1]))))
    return ra, dec


def polygon_constants(poly: ConvexPolygon) -> PolygonConstants:
    """The edges and projections of ``poly``, each edge oriented so that ``A × B`` points
    inwards."""
    verts = [sky.unit_vector(ra, dec) for ra, dec in poly.vertices]
    cols: dict[str, list[float]] = {c: [] for c in _EDGE_COLUMNS}
    dec_min = min(dec for _, dec in poly.vertices)
    dec_max = max(dec for _, dec in poly.vertices)
    for i, n in enumerate(poly.normals):
        a, b = verts[i], verts[(i + 1) % len(verts)]
        if float(np.cross(a, b) @ n) < 0:
            a, b = b, a
        ta, tb = np.cross(n, a), np.cross(b, n)
        ra_a, dec_a = _radec(a)
        mra, mdec = _radec(-n)
        values = [*a, *b, ra_a, dec_a, *n, *ta, *tb, math.hypot(n[0], n[1]),
                  math.degrees(math.atan2(n[1], n[0])), mra, mdec]
        for c, x in zip(_EDGE_COLUMNS, values, strict=True):
            cols[c].append(float(x))
        top = math.degrees(math.acos(min(abs(float(n[2])), 1.0)))
        if ta[2] >= 0 and tb[2] >= 0:  # the edge's highest point lies on it
            dec_max = max(dec_max, top)
        if ta[2] <= 0 and tb[2] <= 0:  # and its lowest
            dec_min = min(dec_min, -top)
    north = bool(np.all(poly.normals[:, 2] >= 0))
    south = bool(np.all(poly.normals[:, 2] <= 0))
    ra0, _ = poly.centroid()  # inside the polygon, so within its RA range
    offsets = [(ra - ra0 + 180.0) % 360.0 - 180.0 for ra, _ in poly.vertices]
    lo, hi = min(offsets), max(offsets)
    return PolygonConstants(cols, -90.0 if south else dec_min, 90.0 if north else dec_max,
                            (ra0 + (lo + hi) / 2) % 360.0, (hi - lo) / 2, north or south)


def _dot(a: Vec, b: Vec) -> str:
    return f"({a[0]} * {b[0]} + {a[1]} * {b[1]} + {a[2]} * {b[2]})"


def _angle(a: Vec, b: Vec) -> str:
    """Degrees between unit vectors ``a`` and ``b`` (atan2 of |a × b| and a · b: no
    digits lost near 0 or 180)."""
    cross = (f"sqrt(power({a[1]} * {b[2]} - {a[2]} * {b[1]}, 2) + "
             f"power({a[2]} * {b[0]} - {a[0]} * {b[2]}, 2) + "
             f"power({a[0]} * {b[1]} - {a[1]} * {b[0]}, 2))")
    return f"degrees(atan2({cross}, {_dot(a, b)}))"


def _asin(x: str) -> str:
    return f"degrees(asin(GREATEST(-1.0, LEAST(1.0, {x}))))"


def _e(name: str) -> str:
    return f"pge.{name}"


def _ev(prefix: str) -> Vec:
    return (_e(f"{prefix}x"), _e(f"{prefix}y"), _e(f"{prefix}z"))


_A, _B, _N, _TA, _TB = _ev("a"), _ev("b"), _ev("n"), _ev("ta"), _ev("tb")


def _q(name: str) -> str:
    return f"pgq.{name}"


def _qv(prefix: str) -> Vec:
    return (_q(f"{prefix}x"), _q(f"{prefix}y"), _q(f"{prefix}z"))


def _on_arc(x: Vec, sign: str = "") -> str:
    """SQL: the point ``x`` (times ``sign``) of an edge's great circle lies on the arc."""
    return f"({sign}{_dot(x, _TA)} >= 0.0 AND {sign}{_dot(x, _TB)} >= 0.0)"


class RegionPolygonSql:
    """SQL of the exact tests between constant shapes and an alert row's published
    region; ``bind`` turns a value into a parameter."""

    def __init__(self, bind: Bind) -> None:
        self.bind = bind

    def _over_edges(self, consts: PolygonConstants, row: dict[str, str], agg: str) -> str:
        """Scalar subquery: ``agg`` (aggregates over the edges ``pge``) with the row's
        quantities ``row`` (name: SQL) computed once as ``pgq``."""
        arrays = ", ".join(self.bind(consts.edges[c], "double precision[]")
                           for c in _EDGE_COLUMNS)
        names = ", ".join(row)
        values = ", ".join(row.values())
        return (f"(SELECT COALESCE({agg}, FALSE) FROM (SELECT {values}) AS pgq({names}),"
                f" unnest({arrays}) AS pge({', '.join(_EDGE_COLUMNS)}))")

    def _const(self, x: float) -> str:
        return self.bind(float(x), "double precision")

    # ------------------------------------------------------------- the row's quantities
    @staticmethod
    def _box_row(cols: dict[str, str]) -> dict[str, str]:
        """A box's meridians ``w``/``e`` and parallels ``dlo``/``dhi``, their sines and
        cosines, and its corners as unit vectors (``k1``: w, dlo; ``k2``: w, dhi; ``k3``:
        e, dlo; ``k4``: e, dhi)."""
        lo, hi, dlo, dhi, _full = extents(cols)
        row = {"w": f"({cols['ra']} - {lo})", "e": f"({cols['ra']} + {hi})",
               "dlo": dlo, "dhi": dhi}
        for m in ("w", "e"):
            row[f"c{m}"], row[f"s{m}"] = f"cos(radians({row[m]}))", f"sin(radians({row[m]}))"
        for d in ("dlo", "dhi"):
            row[f"c{d}"], row[f"s{d}"] = f"cos(radians({row[d]}))", f"sin(radians({row[d]}))"
        for k, (m, d) in enumerate((("w", "dlo"), ("w", "dhi"), ("e", "dlo"), ("e", "dhi")), 1):
            row[f"k{k}x"] = f"({row['c' + d]} * {row['c' + m]})"
            row[f"k{k}y"] = f"({row['c' + d]} * {row['s' + m]})"
            row[f"k{k}z"] = row["s" + d]
        return row

    @staticmethod
    def _circle_row(cols: dict[str, str]) -> dict[str, str]:
        x, y, z = sky.unit_vector_sql(cols["ra"], cols["dec"])
        return {"cx": x, "cy": y, "cz": z}

    # ------------------------------------------------------------------ INTERSECTS
    def polygon_meets_region(self, row: str, level: int, poly: ConvexPolygon) -> str:
        """SQL boolean: the polygon and the published ``level`` % region of the alert row
        ``row`` share a point (a region without extents: TRUE, its tiles decide)."""
        cols = columns(row, level)
        consts = polygon_constants(poly)
        c = _qv("c")
        dist = (f"CASE WHEN {_on_arc(c)} THEN {_asin(f'abs({_dot(c, _N)})')}"
                f" ELSE LEAST({_angle(c, _A)}, {_angle(c, _B)}) END")
        circle = self._over_edges(
            consts, self._circle_row(cols),
            f"bool_and({_dot(c, _N)} >= 0.0) OR bool_or({dist} <= {cols['r']})")
        return by_shape(cols, circle, "TRUE", self._meets_box(cols, consts))

    def _meets_box(self, cols: dict[str, str], consts: PolygonConstants) -> str:
        _lo, _hi, _dlo, _dhi, full = extents(cols)
        vertex = f"bool_or({box_sql(_e('ara'), _e('adec'), cols)})"
        corners = [f"bool_and({_dot(_qv(f'k{k}'), _N)} >= 0.0)" for k in range(1, 5)]
        crossings = [f"({self._crosses_meridian(m)})" for m in ("w", "e")]
        terms = [vertex, *corners,
                 f"(NOT {full} AND bool_or({' OR '.join(crossings)}))",
                 f"bool_or({self._crosses_parallel('dlo', cols)} OR "
                 f"{self._crosses_parallel('dhi', cols)})"]
        return self._over_edges(consts, self._box_row(cols), " OR ".join(terms))

    @staticmethod
    def _crosses_meridian(m: str) -> str:
        """SQL over an edge: its arc meets the box's meridian arc at RA ``m`` (``w``, ``e``)
        between ``dlo`` and ``dhi``: at ``± d``, ``d = n × (-sin m, cos m, 0)``."""
        cm, sm = _q(f"c{m}"), _q(f"s{m}")
        nx, ny, nz = _N
        d = (f"(-{nz} * {cm})", f"(-{nz} * {sm})", f"({nx} * {cm} + {ny} * {sm})")
        out = []
        for sign in ("", "-"):
            dec = f"degrees(atan2({sign}{d[2]}, abs({nz})))"
            # d . (cos m, sin m, 0) = -n_z: the point lies on the meridian's half
            out.append(f"({sign}(-{nz}) >= 0.0 AND {_on_arc(d, sign)} AND "
                       f"{dec} BETWEEN {_q('dlo')} AND {_q('dhi')})")
        return f"(({nz} <> 0.0 OR {d[2]} <> 0.0) AND ({' OR '.join(out)}))"

    @staticmethod
    def _crosses_parallel(d: str, cols: dict[str, str]) -> str:
        """SQL over an edge: its arc meets the box's parallel ``d`` (``dlo``, ``dhi``)
        within the box's RA range."""
        lo, hi, _dlo, _dhi, full = extents(cols)
        cd, sd = _q(f"c{d}"), _q(f"s{d}")
        hc = f"({_e('h')} * {cd})"
        k = f"(-{_e('nz')} * {sd} / NULLIF({hc}, 0.0))"
        half = f"degrees(acos(GREATEST(-1.0, LEAST(1.0, {k}))))"
        out = []
        for sign in ("+", "-"):
            a = f"({_e('phi')} {sign} {half})"
            x = (f"({cd} * cos(radians({a})))", f"({cd} * sin(radians({a})))", sd)
            in_ra = f"({full} OR {ra_offset_sql(a, cols['ra'])} BETWEEN -{lo} AND {hi})"
            out.append(f"({_on_arc(x)} AND {in_ra})")
        return (f"COALESCE(abs({_q(d)}) < 90.0 AND {hc} > 0.0 AND "
                f"abs({_e('nz')} * {sd}) <= {hc} AND ({' OR '.join(out)}), FALSE)")

    # ------------------------------------------------------- CONTAINS(POLYGON, region)
    def polygon_in_region(self, row: str, level: int, poly: ConvexPolygon,
                          tiles_only: str) -> str:
        """SQL boolean: the polygon lies in the published region of the row; a region
        without extents is its tiles, and ``tiles_only`` (SQL) decides."""
        cols = columns(row, level)
        consts = polygon_constants(poly)
        c = _qv("c")
        far = (f"CASE WHEN {_on_arc(c, '-')} THEN 180.0 - {_asin(f'abs({_dot(c, _N)})')}"
               f" ELSE GREATEST({_angle(c, _A)}, {_angle(c, _B)}) END")
        circle = self._over_edges(
            consts, self._circle_row(cols),
            f"bool_and({far} <= {cols['r']}) AND NOT bool_and({_dot(c, _N)} <= 0.0)")
        lo, hi, dlo, dhi, full = extents(cols)
        mid = ra_offset_sql(self._const(consts.ra_mid), cols["ra"])
        half = self._const(consts.ra_half)
        in_ra = ("FALSE" if consts.holds_pole else
                 f"({mid} - {half} >= -{lo} AND {mid} + {half} <= {hi})")
        box = (f"({self._const(consts.dec_min)} >= {dlo} AND "
               f"{self._const(consts.dec_max)} <= {dhi} AND ({full} OR {in_ra}))")
        return by_shape(cols, circle, tiles_only, box)

    # ------------------------------------------------ CONTAINS(region, POLYGON | CIRCLE)
    def region_in_polygon(self, row: str, level: int, poly: ConvexPolygon,
                          tiles_only: str) -> str:
        """SQL boolean: the published region of the row lies in the polygon; a region
        without extents is its tiles, and ``tiles_only`` (SQL) decides."""
        cols = columns(row, level)
        consts = polygon_constants(poly)
        c = _qv("c")
        circle = self._over_edges(
            consts, self._circle_row(cols),
            f"{cols['r']} <= 90.0 AND bool_and({_asin(_dot(c, _N))} >= {cols['r']})")
        below = self._below(cols, _N, (_e("mra"), _e("mdec")), _e("h"), "0.0")
        box = self._over_edges(consts, self._box_row(cols), f"NOT bool_or({below})")
        return by_shape(cols, circle, tiles_only, box)

    def region_in_circle(self, row: str, level: int, ra: str, dec: str, radius: str,
                         tiles_only: str) -> str:
        """SQL boolean: the published region of the row lies in the circle (``ra``,
        ``dec``, ``radius``: SQL in degrees); a region without extents is its tiles, and
        ``tiles_only`` (SQL) decides."""
        cols = columns(row, level)
        cra, cdec, rho = as_double(ra), as_double(dec), as_double(radius)
        distance = sky.great_circle_sql(cols["ra"], cols["dec"], cra, cdec)
        box_row = self._box_row(cols)
        v = sky.unit_vector_sql(cra, cdec)
        anti = (f"({cra} + 180.0)", f"(-{cdec})")
        below = self._below(cols, v, anti, f"cos(radians({cdec}))", f"cos(radians({rho}))")
        names = ", ".join(box_row)
        box = (f"({rho} >= 180.0 OR (SELECT NOT ({below}) FROM (SELECT "
               f"{', '.join(box_row.values())}) AS pgq({names})))")
        return by_shape(cols, f"{distance} + {cols['r']} <= {rho}", tiles_only, box)

    @staticmethod
    def _below(cols: dict[str, str], v: Vec, anti: tuple[str, str], h: str,
               threshold: str) -> str:
        """SQL: some point of the row's box has ``v · x < threshold`` (``anti``: the
        (ra, dec) of ``-v``; ``h``: the length of v's x-y part); the box's quantities are
        those of :meth:`_box_row`, as ``pgq``."""
        lo, hi, _dlo, _dhi, full = extents(cols)
        terms = [f"{_dot(v, _qv(f'k{k}'))} < {threshold}" for k in range(1, 5)]
        for m in ("w", "e"):  # the trough of a meridian arc, inside it
            a = f"({v[0]} * {_q('c' + m)} + {v[1]} * {_q('s' + m)})"
            terms.append(f"(NOT {full} AND degrees(atan2(-{v[2]}, -{a})) BETWEEN "
                         f"{_q('dlo')} AND {_q('dhi')} AND "
                         f"-sqrt({a} * {a} + {v[2]} * {v[2]}) < {threshold})")
        in_ra = f"({full} OR {ra_offset_sql(anti[0], cols['ra'])} BETWEEN -{lo} AND {hi})"
        for d in ("dlo", "dhi"):  # the trough of a parallel, at the RA of -v
            terms.append(f"({in_ra} AND -{h} * {_q('c' + d)} + {v[2]} * {_q('s' + d)}"
                         f" < {threshold})")
        terms.append(f"({box_sql(anti[0], anti[1], cols)} AND -1.0 < {threshold})")
        return "(" + " OR ".join(terms) + ")"
