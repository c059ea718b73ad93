"""Python side of ADQL geometry: tile coverings and exact-test constants of constant shapes.

A constant CIRCLE or POLYGON in a query becomes (a) order-29 index ranges that cover it —
an index pre-filter on ``hpx29`` or an overlap test against region tiles — and (b) the
constants of the exact test done in SQL (centre and radius; edge normals of a polygon).
The sphere itself (indices, tile orders, unit vectors, areas) is :mod:`catalog.sky`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import Latitude, Longitude
from mocpy import MOC
from numpy.typing import NDArray

from catalog import sky
from vo.errors import AdqlError

#: Most ranges a pre-filter may have; a finer covering is degraded until it fits. Each range
#: is one index range scan in a BitmapOr, so a few dozen keep planning and execution cheap.
MAX_RANGES = 48

#: Area of one order-29 HEALPix cell in square degrees (kept here for its callers).
PIXAREA29_DEG2 = sky.PIXAREA29_DEG2

#: Cartesian unit vector of a direction in degrees (kept here for its callers).
unit_vector = sky.unit_vector


def _fit(moc: MOC, order: int) -> NDArray[np.uint64]:
    """Order-29 ranges of ``moc``, degraded order by order until at most MAX_RANGES."""
    ranges: NDArray[np.uint64] = moc.to_depth29_ranges
    while len(ranges) > MAX_RANGES and order > 0:
        order -= 1
        moc = moc.degrade_to_order(order)
        ranges = moc.to_depth29_ranges
    return ranges


def circle_ranges(ra: float, dec: float, radius: float, finer: int = 0) -> NDArray[np.uint64]:
    """Order-29 ranges covering a circle (degrees)."""
    check_position(ra, dec)
    if not (0 <= radius <= 180):
        raise AdqlError(f"circle radius {radius} is outside [0, 180] degrees")
    if radius >= 180:
        return np.array([[0, 12 * 4**29]], dtype=np.uint64)
    order = min(sky.tile_order(max(radius, 1e-6)) + finer, 29)
    moc = MOC.from_cone(Longitude(ra * u.deg), Latitude(dec * u.deg),
                        radius=max(radius, 1e-9) * u.deg, max_depth=order)
    if finer:
        out: NDArray[np.uint64] = moc.to_depth29_ranges
        return out
    return _fit(moc, order)


def check_position(ra: float, dec: float) -> None:
    """Refuse a position that is not finite or has |dec| > 90 (an ADQL error)."""
    if not (math.isfinite(ra) and math.isfinite(dec)) or not (-90 <= dec <= 90):
        raise AdqlError(f"position ({ra}, {dec}) is not a valid sky position")


@dataclass(frozen=True, slots=True)
class ConvexPolygon:
    """A convex spherical polygon with great-circle edges.

    ``normals[i]`` is the inward normal of edge i: a point p is inside when
    ``normals @ p >= 0`` for every edge.
    """

    vertices: tuple[tuple[float, float], ...]
    normals: NDArray[np.float64]

    @classmethod
    def from_vertices(cls, vertices: list[tuple[float, float]]) -> ConvexPolygon:
        """The polygon of these (ra, dec) vertices, in either winding; refuses a concave one."""
        if len(vertices) < 3:
            raise AdqlError("a POLYGON needs at least three vertices")
        for ra, dec in vertices:
            check_position(ra, dec)
        vs = np.array([unit_vector(ra, dec) for ra, dec in vertices])
        normals = np.cross(vs, np.roll(vs, -1, axis=0))
        lengths = np.linalg.norm(normals, axis=1)
        if np.any(lengths < 1e-12):
            raise AdqlError("a POLYGON has repeated or antipodal consecutive vertices")
        normals /= lengths[:, None]
        side = normals @ vs.sum(axis=0)
        if np.all(side < 0):  # clockwise: flip so that normals point inwards
            normals = -normals
        # Convex: every vertex lies on the inner side of every edge. A unit vector carries
        # ~1e-16 of rounding, so an edge's normal turns by ~1e-16 / |A x B|: the tolerance
        # grows as the shortest edge shrinks (a fixed 1e-12 refused polygons under ~0.01 deg).
        tolerance = 1e-12 + 1e-15 / float(lengths.min())
        if np.any(normals @ vs.T < -tolerance):
            raise AdqlError("only convex POLYGONs are supported")
        return cls(tuple(vertices), normals)

    def contains(self, ra: NDArray[np.float64], dec: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Which of the (ra, dec) positions lie inside (edges included)."""
        a, d = np.radians(ra), np.radians(dec)
        p = np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])
        return np.asarray(np.all(self.normals @ p >= 0, axis=0))

    def moc(self, order: int) -> MOC:
        """The polygon as a mocpy MOC of depth ``order``."""
        ras = Longitude([v[0] for v in self.vertices] * u.deg)
        decs = Latitude([v[1] for v in self.vertices] * u.deg)
        return MOC.from_polygon(ras, decs, max_depth=order)

    def size_deg(self) -> float:
        """Largest angle from the vertices' mean direction to a vertex (degrees)."""
        centre = np.sum([unit_vector(*v) for v in self.vertices], axis=0)
        centre /= np.linalg.norm(centre)
        cosines = [float(unit_vector(*v) @ centre) for v in self.vertices]
        return math.degrees(math.acos(min(1.0, min(cosines))))

    def ranges(self, finer: int = 0) -> NDArray[np.uint64]:
        """Order-29 ranges covering the polygon; ``finer`` orders finer and not degraded."""
        order = min(sky.tile_order(max(self.size_deg(), 1e-6)) + finer, 29)
        moc = self.moc(order)
        if finer:
            out: NDArray[np.uint64] = moc.to_depth29_ranges
            return out
        return _fit(moc, order)

    def area_deg2(self) -> float:
        """Spherical excess of the polygon (Girard), in square degrees."""
        vs = [unit_vector(*v) for v in self.vertices]
        n = len(vs)
        total = 0.0
        for i in range(n):
            a, b, c = vs[i - 1], vs[i], vs[(i + 1) % n]
            t1 = np.cross(b, a)
            t2 = np.cross(b, c)
            cos_ang = float(t1 @ t2) / float(np.linalg.norm(t1) * np.linalg.norm(t2))
            ang = math.acos(max(-1.0, min(1.0, cos_ang)))
            total += ang
        return (total - (n - 2) * math.pi) * (180 / math.pi) ** 2

    def centroid(self) -> tuple[float, float]:
        """(ra, dec) of the vertices' mean direction, in degrees."""
        c = np.sum([unit_vector(*v) for v in self.vertices], axis=0)
        ra = math.degrees(math.atan2(c[1], c[0])) % 360.0
        dec = math.degrees(math.atan2(c[2], math.hypot(c[0], c[1])))
        return ra, dec


def box_polygon(ra: float, dec: float, width: float, height: float) -> ConvexPolygon:
    """ADQL BOX as the polygon of its four corners (centre ± half width/height in RA, Dec)."""
    if width <= 0 or height <= 0:
        raise AdqlError("BOX width and height must be positive")
    if width >= 180 or height >= 180:
        raise AdqlError(f"BOX {width} x {height} degrees: a BOX is the polygon of its four "
                        "corners, so its width and height must be under 180 degrees")
    hw, hh = width / 2, height / 2
    corners = [(ra - hw, dec - hh), (ra + hw, dec - hh), (ra + hw, dec + hh),
               (ra - hw, dec + hh)]
    return ConvexPolygon.from_vertices([(a % 360.0, max(min(d, 90.0), -90.0))
                                        for a, d in corners])


def moc_max_depth(ranges: NDArray[np.uint64] | list[list[int]]) -> int:
    """The coarsest order at which every bound of these order-29 ranges is a cell edge."""
    # Vectorised: a per-bound Python loop here held the GIL for ~1/6 of a flooded server's
    # samples (every MOC cell of every TAP row passes through it).
    bounds = np.asarray(ranges, dtype=np.uint64).ravel()
    bounds = bounds[bounds != 0]
    if bounds.size == 0:
        return 0
    lowest = bounds & (~bounds + np.uint64(1))  # the lowest set bit of each bound
    trailing = np.log2(lowest.astype(np.float64)).astype(np.int64)  # exact: powers of 2
    return int(29 - np.minimum(trailing // 2, 29).min())


def ascii_moc(ranges: list[list[int]] | None) -> str | None:
    """ASCII MOC 2.0 of order-29 ranges (as the tiles store them), or None."""
    if not ranges:
        return None
    arr = np.asarray(ranges, dtype=np.uint64).reshape(-1, 2)
    moc = MOC.from_depth29_ranges(max(moc_max_depth(arr), 0), arr)
    text: str = moc.to_string(format="ascii", fold=0)
    return text.strip()
