"""Sky geometry in Python: order-29 point indices, region tiles, areas, exact tests.

Points are HEALPix NESTED indices at order 29 (healpy); regions are mocpy MOCs flattened to
order-29 index ranges, one ``int8range`` row per range. Tiles *cover* a region (cells that
overlap it are kept), so a tile match is a pre-filter: callers refine with the exact test
(:func:`contains_exact`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import astropy.units as u
import healpy as hp
import numpy as np
from astropy.coordinates import Latitude, Longitude, SkyCoord
from mocpy import MOC
from numpy.typing import ArrayLike, NDArray

from catalog.notices.parsed import ErrorRegion

#: HEALPix order of point indices (``nside = 2**29``, cells of ~0.4 mas).
POINT_ORDER = 29
POINT_NSIDE = 2**POINT_ORDER

#: Square degrees on the whole sphere (4π sr).
FULL_SKY_DEG2 = 4 * math.pi * (180 / math.pi) ** 2

#: Area of one order-29 HEALPix cell in square degrees.
PIXAREA29_DEG2 = FULL_SKY_DEG2 / (12 * 4**POINT_ORDER)

#: Finest and coarsest tile orders used for stored regions.
MIN_TILE_ORDER, MAX_TILE_ORDER = 3, 14


def point_index(ra: ArrayLike, dec: ArrayLike) -> NDArray[np.int64]:
    """Order-29 NESTED HEALPix index of (ra, dec) in degrees."""
    ipix = hp.ang2pix(POINT_NSIDE, np.asarray(ra, float), np.asarray(dec, float),
                      nest=True, lonlat=True)
    return np.asarray(ipix, dtype=np.int64)


def tile_order(size_deg: float) -> int:
    """Tile order for a region of characteristic size ``size_deg`` (radius or half-width).

    Cells are kept ~4 times smaller than the region: the covering overshoots the area by a
    few tens of per cent (exact refinement removes the excess) while a region stays a few
    dozen ranges. HEALPix cells at order k are ~58.6°/2**k across.
    """
    if size_deg <= 0 or not math.isfinite(size_deg):
        return MAX_TILE_ORDER
    k = math.ceil(math.log2(58.6 * 4 / size_deg))
    return int(min(max(k, MIN_TILE_ORDER), MAX_TILE_ORDER))


@dataclass(frozen=True, slots=True)
class RegionGeometry:
    """A stored region: its shape, area, circularised radius and covering tiles."""

    shape: str  # "circle" or "box"
    area_deg2: float
    radius_deg: float  # circularised: the cap of the same area
    order: int
    ranges: NDArray[np.uint64]  # (n, 2) order-29 [lo, hi)


def box_bounds(ra: float, dec: float, r: ErrorRegion) -> tuple[float, float, float, float]:
    """(ra_lo, ra_hi, dec_lo, dec_hi) of a box region; RA bounds wrap into [0, 360)."""
    assert r.ra_plus is not None and r.ra_minus is not None
    assert r.dec_plus is not None and r.dec_minus is not None
    dec_lo = max(dec - r.dec_minus, -90.0)
    dec_hi = min(dec + r.dec_plus, 90.0)
    return (ra - r.ra_minus) % 360.0, (ra + r.ra_plus) % 360.0, dec_lo, dec_hi


def cap_area_deg2(radius_deg: float) -> float:
    """Area of a spherical cap: 2 pi (1 - cos r)."""
    return 2 * math.pi * (1 - math.cos(math.radians(radius_deg))) * (180 / math.pi) ** 2


def cap_radius_deg(area_deg2: float) -> float:
    """Radius of the spherical cap whose area is ``area_deg2`` (inverse of cap_area_deg2)."""
    frac = min(area_deg2 / FULL_SKY_DEG2, 1.0)
    return math.degrees(math.acos(1 - 2 * frac))


def region_geometry(ra: float, dec: float, region: ErrorRegion) -> RegionGeometry:
    """Area, circularised radius and covering tiles of ``region`` centred on (ra, dec)."""
    if region.is_circle:
        assert region.radius_deg is not None
        radius = region.radius_deg
        order = tile_order(radius)
        moc = MOC.from_cone(Longitude(ra * u.deg), Latitude(dec * u.deg),
                            radius=radius * u.deg, max_depth=order)
        return RegionGeometry("circle", cap_area_deg2(radius), radius, order,
                              moc.to_depth29_ranges)
    ra_lo, ra_hi, dec_lo, dec_hi = box_bounds(ra, dec, region)
    assert region.ra_plus is not None and region.ra_minus is not None
    width = min(region.ra_plus + region.ra_minus, 360.0)
    # Box on the sphere: RA width (rad) * (sin dec_hi - sin dec_lo) sr.
    area_sr = math.radians(width) * (math.sin(math.radians(dec_hi))
                                     - math.sin(math.radians(dec_lo)))
    area = area_sr * (180 / math.pi) ** 2
    half = min(width * math.cos(math.radians(dec)), dec_hi - dec_lo) / 2
    order = tile_order(max(half, 1e-6))
    if width >= 360.0:
        ra_lo, ra_hi = 0.0, 360.0
    corners = SkyCoord([[ra_lo, dec_lo], [ra_hi, dec_hi]], unit="deg")
    moc = MOC.from_zone(corners, max_depth=order)
    return RegionGeometry("box", area, cap_radius_deg(area), order, moc.to_depth29_ranges)


def angular_distance_deg(ra1: ArrayLike, dec1: ArrayLike, ra2: ArrayLike,
                         dec2: ArrayLike) -> NDArray[np.float64]:
    """Great-circle distance in degrees (Vincenty form: stable at 0 and 180 degrees)."""
    l1, b1, l2, b2 = (np.radians(np.asarray(x, float)) for x in (ra1, dec1, ra2, dec2))
    dl = l2 - l1
    num = np.hypot(np.cos(b2) * np.sin(dl),
                   np.cos(b1) * np.sin(b2) - np.sin(b1) * np.cos(b2) * np.cos(dl))
    den = np.sin(b1) * np.sin(b2) + np.cos(b1) * np.cos(b2) * np.cos(dl)
    return np.asarray(np.degrees(np.arctan2(num, den)), dtype=np.float64)


def in_box(ra: float, dec: float, ra0: float, dec0: float, ra_plus: float, ra_minus: float,
           dec_plus: float, dec_minus: float) -> bool:
    """Whether (ra, dec) lies in the RA/Dec box centred on (ra0, dec0), all in degrees.

    The box spans ``ra0 - ra_minus .. ra0 + ra_plus`` (across RA 0 when it must) and
    ``dec0 - dec_minus .. dec0 + dec_plus``; a box 360 degrees wide holds every RA.
    """
    if not (dec0 - dec_minus <= dec <= dec0 + dec_plus):
        return False
    if ra_plus + ra_minus >= 360.0:
        return True
    offset = (ra - ra0 + 180.0) % 360.0 - 180.0  # signed RA difference in (-180, 180]
    return -ra_minus <= offset <= ra_plus


def unit_vector(ra: float, dec: float) -> NDArray[np.float64]:
    """Cartesian unit vector (x, y, z) of a direction given in degrees."""
    a, d = math.radians(ra), math.radians(dec)
    return np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])


def cone_ranges(ra: float, dec: float, radius_deg: float) -> NDArray[np.uint64]:
    """Order-29 index ranges covering a cone (a pre-filter for point-in-cone queries).

    The cells that overlap the cone (healpy's inclusive ``query_disc``), merged into
    ranges: a few times faster than building a mocpy MOC, which the cone search paid on
    every request. The cells are about the cone's radius across (two orders coarser than
    the tiles of a region that size): each range is one more index scan for PostgreSQL to
    plan and run (~0.02 ms each), while the few extra candidates cost nothing to refine.
    """
    order = max(tile_order(max(radius_deg, 1e-6)) - 2, 0)
    radius = math.radians(max(radius_deg, 1e-9))
    pix = np.sort(hp.query_disc(1 << order, unit_vector(ra, dec), radius,
                                inclusive=True, nest=True)).astype(np.uint64)
    if len(pix) == 0:
        return np.zeros((0, 2), dtype=np.uint64)
    breaks = np.flatnonzero(np.diff(pix) != 1)
    lo = pix[np.concatenate(([0], breaks + 1))]
    hi = pix[np.concatenate((breaks, [len(pix) - 1]))] + np.uint64(1)
    shift = np.uint64(2 * (POINT_ORDER - order))
    return np.stack([lo << shift, hi << shift], axis=1)
