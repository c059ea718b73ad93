"""Coordinate systems of ADQL geometry constructors: ``POINT('GALACTIC', l, b)`` and the
others are converted to ICRS, the frame of every position this service stores.

The conversions are astropy's: constants are transformed by astropy itself; a position
that varies per row is rotated in SQL by the matrix astropy gives for the frame (GALACTIC
and FK5 J2000 differ from ICRS by a fixed rotation). A frame that is no rotation of ICRS
(FK4 with its E-terms, ecliptic frames of date, ...) or unknown is refused.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from astropy import units as u
from astropy.coordinates import (
    FK5,
    ICRS,
    BaseCoordinateFrame,
    Galactic,
    SkyCoord,
    UnitSphericalRepresentation,
)
from numpy.typing import NDArray

from catalog import sky
from vo.errors import AdqlError

#: Frames (first word of the coordinate system string, upper case) → astropy frame, None
#: for ICRS itself. An empty string means the service's own frame (ICRS).
FRAMES: dict[str, object | None] = {
    "": None, "ICRS": None, "GALACTIC": Galactic(), "FK5": FK5(equinox="J2000"),
    "J2000": FK5(equinox="J2000"),
}

#: Reference positions STC-S allows after the frame; all mean the same directions here.
REFPOS = frozenset({"", "GEOCENTER", "BARYCENTER", "HELIOCENTER", "TOPOCENTER",
                    "UNKNOWNREFPOS"})


def frame_of(text: str) -> str:
    """The frame name of an ADQL coordinate system string; an ADQL error when it is not
    one this service converts."""
    words = text.upper().split()
    frame = words[0] if words else ""
    refpos = words[1] if len(words) > 1 else ""
    if frame not in FRAMES or refpos not in REFPOS or len(words) > 3:
        known = ", ".join(repr(f) for f in FRAMES if f)
        raise AdqlError(f"unknown coordinate system {text!r}: this service knows {known} "
                        "(positions are converted to ICRS)")
    return frame


@lru_cache(maxsize=8)
def matrix(frame: str) -> NDArray[np.float64]:
    """The 3×3 rotation taking unit vectors of ``frame`` to ICRS (astropy's transform of
    the frame's basis vectors)."""
    source = FRAMES[frame]
    assert isinstance(source, BaseCoordinateFrame)
    basis = source.realize_frame(UnitSphericalRepresentation(
        [0.0, 90.0, 0.0] * u.deg, [0.0, 0.0, 90.0] * u.deg))  # the x, y and z axes
    xyz = basis.transform_to(ICRS()).cartesian.xyz.value  # column j: image of axis j
    return np.asarray(xyz, dtype=np.float64)


def to_icrs(frame: str, lon: float, lat: float) -> tuple[float, float]:
    """(ra, dec) in ICRS of a constant position of ``frame`` (degrees), by astropy."""
    source = FRAMES[frame]
    if source is None:
        return lon, lat
    c = SkyCoord(lon * u.deg, lat * u.deg, frame=source).transform_to(ICRS())
    return float(c.ra.deg), float(c.dec.deg)


def to_icrs_sql(frame: str, lon: str, lat: str) -> tuple[str, str]:
    """SQL of (ra, dec) in ICRS of a position of ``frame`` given as SQL (degrees)."""
    m = matrix(frame)
    v = sky.unit_vector_sql(f"({lon})", f"({lat})")
    rows = [" + ".join(f"{float(m[i, j])!r} * {v[j]}" for j in range(3)) for i in range(3)]
    x, y, z = (f"({r})" for r in rows)
    d = f"(360.0 + degrees(atan2({y}, {x})))"
    ra = f"({d} - 360.0 * floor({d} / 360.0))"
    dec = f"degrees(asin(LEAST(1.0, GREATEST(-1.0, {z}))))"
    return ra, dec
