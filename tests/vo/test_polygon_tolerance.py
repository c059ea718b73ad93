"""Issue 15: small POLYGONs are accepted and still exact, concave ones (small too) are still
refused, and a BOX too wide to be the polygon of its corners is refused with a message that
says so. The expectations are computed here from astropy's tangent-plane offsets, not from
the code under test."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from vo.adql.geometry import ConvexPolygon, box_polygon
from vo.errors import AdqlError


def _offsets(ra: float, dec: float, xy: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(ra, dec) of tangent-plane offsets (degrees) about (ra, dec), by astropy."""
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    out = []
    for x, y in xy:
        p = centre.spherical_offsets_by(x * u.deg, y * u.deg)
        out.append((float(p.ra.deg), float(p.dec.deg)))
    return out


@pytest.mark.parametrize("size", [1e-2, 1e-3, 1e-4, 1e-5])
@pytest.mark.parametrize("where", [(10.0, 20.0), (359.99999, -0.5), (120.0, 89.9)])
def test_small_convex_polygons_are_accepted_and_exact(size: float,
                                                      where: tuple[float, float]) -> None:
    square = [(-size, -size), (size, -size), (size, size), (-size, size)]
    poly = ConvexPolygon.from_vertices(_offsets(*where, square))
    # Points at 0.9 and 1.1 of the half-size along both axes: inside, then outside.
    inside = _offsets(*where, [(0.9 * size * sx, 0.9 * size * sy)
                               for sx in (-1, 1) for sy in (-1, 1)])
    outside = _offsets(*where, [(1.1 * size * sx, 0.0) for sx in (-1, 1)]
                       + [(0.0, 1.1 * size * sy) for sy in (-1, 1)])
    for points, expected in ((inside, True), (outside, False)):
        ra, dec = (np.array(c) for c in zip(*points, strict=True))
        assert poly.contains(ra, dec).tolist() == [expected] * len(points)


@pytest.mark.parametrize("size", [1.0, 1e-2, 1e-4])
def test_small_concave_polygons_are_still_refused(size: float) -> None:
    # An arrow head: the fourth vertex dents the square by half its size.
    dent = [(-size, -size), (size, -size), (size, size), (0.0, 0.0), (-size, size)]
    with pytest.raises(AdqlError, match="convex"):
        ConvexPolygon.from_vertices(_offsets(40.0, -30.0, dent))


@pytest.mark.parametrize("width,height", [(400.0, 1.0), (180.0, 1.0), (1.0, 200.0)])
def test_a_box_too_wide_for_its_corners_is_refused_clearly(width: float,
                                                           height: float) -> None:
    with pytest.raises(AdqlError, match="under 180 degrees"):
        box_polygon(10.0, 0.0, width, height)
