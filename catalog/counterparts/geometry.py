"""The exact tests of a counterpart search, as SQL text over a revision and a source.

A revision's ``level`` % region is, as everywhere in nufair, its tiles AND its shape: the
circle (great-circle distance to the best fit <= radius), the RA/Dec box
(:func:`catalog.sky.in_box`, step by step) or, for a shape-less region, the tiles alone. A
scan's revision keeps its box and has the scan's own pixels as tiles, so tiles AND box is
the contour (:meth:`catalog.storage.revisions.RevisionStore.replace_region_tiles`).

A source's 95 % error ellipse is defined around its position in angular distance ``s`` and
position angle ``theta`` (east of north): a point lies in it when
``(s cos(theta - pa) / a)^2 + (s sin(theta - pa) / b)^2 <= 1``, the convention of the
Fermi-LAT catalogues. The ellipse meets the region when its centre does (first tier), when
the region's best fit lies in both the region and the ellipse (a region inside the
ellipse), or when one of :data:`OUTLINE_POINTS` points of its outline lies in the region.
Sampling the outline is the one approximation: a region that enters the ellipse between
two neighbouring outline points by less than the sagitta ``a (1 - cos(pi / N))`` (3.8e-5 a,
0.12 arcsec for the largest 4FGL-DR4 ellipse) is missed. No maintained library answers
"does this ellipse meet this box or this pixel set" on the sphere in SQL; mocpy's
elliptical MOCs approximate the ellipse by cells, far more coarsely.
"""

from __future__ import annotations

from catalog import sky

#: Points sampled on each error ellipse's outline (see the module docstring).
OUTLINE_POINTS = 360


def ra_offset(ra: str, ra0: str) -> str:
    """``(ra - ra0 + 180) % 360 - 180`` with Python's float ``%``, as in :func:`sky.in_box`.

    For the sums that occur (-360 .. 720) Python's ``%`` is one exact subtraction or
    addition; written out so that PostgreSQL takes the same steps.
    """
    x = f"(({ra} - {ra0}) + 180.0)"
    return (f"(CASE WHEN {x} >= 0.0 AND {x} < 360.0 THEN {x}"
            f" WHEN {x} >= 360.0 AND {x} < 720.0 THEN {x} - 360.0"
            f" WHEN {x} < 0.0 AND {x} >= -360.0 THEN {x} + 360.0"
            f" ELSE {x} - 360.0 * floor({x} / 360.0) END - 180.0)")


def in_shape(ra: str, dec: str, g: str, ra0: str, dec0: str) -> str:
    """SQL: (ra, dec) lies in the shape of region ``g`` (columns shape, radius, ra_plus,
    ra_minus, dec_plus, dec_minus) centred on the best fit (ra0, dec0)."""
    distance = sky.great_circle_sql(ra0, dec0, ra, dec)
    in_dec = f"({dec0} - {g}.dec_minus <= {dec} AND {dec} <= {dec0} + {g}.dec_plus)"
    in_ra = (f"({g}.ra_plus + {g}.ra_minus >= 360.0 OR {ra_offset(ra, ra0)}"
             f" BETWEEN -{g}.ra_minus AND {g}.ra_plus)")
    return (f"(CASE WHEN {g}.shape = 'circle' THEN {distance} <= {g}.radius"
            f" WHEN {g}.shape = 'box' THEN {in_dec} AND {in_ra} ELSE TRUE END)")


def may_reach(ra0: str, dec0: str, a: str, g: str, ra: str, dec: str) -> str:
    """SQL: a cheap necessary condition for the ellipse (semi-major ``a``) around
    (ra0, dec0) to meet region ``g`` centred on (ra, dec): every point of the ellipse is
    within ``a`` of its centre, so a circle must come within radius + a, and a box's Dec
    range within ``a`` of the centre's Dec."""
    distance = sky.great_circle_sql(ra, dec, ra0, dec0)
    return (f"(CASE WHEN {g}.shape = 'circle' THEN {distance} <= {g}.radius + {a}"
            f" WHEN {g}.shape = 'box' THEN {dec0} - {a} <= {dec} + {g}.dec_plus"
            f" AND {dec0} + {a} >= {dec} - {g}.dec_minus ELSE TRUE END)")


def in_tiles(hpx29: str, revision: str, level: str) -> str:
    """SQL: the order-29 index ``hpx29`` lies in a tile of the revision's region."""
    return (f"EXISTS (SELECT 1 FROM public.region_tiles t2 WHERE t2.revision_pk = {revision}"
            f" AND t2.level = {level} AND t2.hpx @> {hpx29})")


def in_ellipse(ra: str, dec: str, ra0: str, dec0: str, a: str, b: str, pa: str) -> str:
    """SQL: (ra, dec) lies in the ellipse (a, b, pa; degrees) centred on (ra0, dec0)."""
    s = sky.great_circle_sql(ra0, dec0, ra, dec)
    dra = f"({ra} - {ra0})"
    theta = (f"atan2d(sind({dra}) * cosd({dec}), cosd({dec0}) * sind({dec})"
             f" - sind({dec0}) * cosd({dec}) * cosd({dra}))")
    u, v = f"(({s}) * cosd({theta} - {pa}))", f"(({s}) * sind({theta} - {pa}))"
    # NULLIF: a degenerate axis gives NULL (not inside), never a division error, whatever
    # order PostgreSQL evaluates the conditions around this one in.
    return f"(power({u} / NULLIF({a}, 0), 2) + power({v} / NULLIF({b}, 0), 2) <= 1.0)"


def outline_from(ra0: str, dec0: str, a: str, b: str, pa: str) -> str:
    """SQL FROM clause of the ellipse's outline points, as ``o5.ra`` and ``o3.dec`` (deg).

    Point k (0 .. N-1) at parameter t = 360 k / N is (a cos t, b sin t) along the (major,
    minor) axes: at distance rho (their hypotenuse) and position angle
    pa + atan2(b sin t, a cos t); it is placed on the sphere by the direct problem of a
    great circle (what astropy's ``directional_offset_by`` computes).
    """
    # float8 throughout (a bare 360.0 is numeric); OFFSET 0 keeps each step a subquery of
    # its own, so PostgreSQL computes each value once instead of pasting its expression
    # into every later use (4x faster measured).
    t = f"(CAST(o.k AS double precision) * {360.0 / OUTLINE_POINTS!r}::float8)"
    return (
        f"generate_series(0, {OUTLINE_POINTS - 1}) AS o(k)"
        f" CROSS JOIN LATERAL (SELECT {a} * cosd({t}) AS x, {b} * sind({t}) AS y"
        " OFFSET 0) o1"
        " CROSS JOIN LATERAL (SELECT sqrt(o1.x * o1.x + o1.y * o1.y) AS rho,"
        f" {pa} + atan2d(o1.y, o1.x) AS theta OFFSET 0) o2"
        f" CROSS JOIN LATERAL (SELECT asind(least(1.0::float8, greatest(-1.0::float8,"
        f" sind({dec0}) * cosd(o2.rho) + cosd({dec0}) * sind(o2.rho) * cosd(o2.theta))))"
        " AS dec OFFSET 0) o3"
        f" CROSS JOIN LATERAL (SELECT {ra0} + atan2d(sind(o2.theta) * sind(o2.rho)"
        f" * cosd({dec0}), cosd(o2.rho) - sind({dec0}) * sind(o3.dec)) AS ra OFFSET 0) o4"
        " CROSS JOIN LATERAL (SELECT o4.ra - 360.0::float8 * floor(o4.ra / 360.0::float8)"
        " AS ra OFFSET 0) o5")
