"""A subscriber's footprint as a MOC, and the order-29 ranges it is stored as.

Every form a subscriber can give — a MOC in ASCII, JSON or FITS (IVOA MOC 2.0, read by
mocpy), a cone, a list of fields (cones) — becomes one mocpy MOC, degraded to at most
:data:`MAX_ORDER` (a covering: a coarser cell holds its finer ones), then the disjoint,
sorted order-29 ``[lo, hi)`` ranges that ``subscription_tiles`` stores, like
``region_tiles``. Nothing here touches the database.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import Latitude, Longitude
from mocpy import MOC
from numpy.typing import NDArray

from catalog.errors import InvalidInput
from catalog.sky import FULL_SKY_DEG2, MAX_TILE_ORDER, tile_order

#: Deepest order a footprint keeps (cells of ~13 arcsec); deeper MOCs are degraded to it.
MAX_ORDER = MAX_TILE_ORDER

#: Most ranges one footprint may store (a footprint is rows in an indexed table).
MAX_RANGES = 20_000

#: Most fields (cones) in one footprint.
MAX_FIELDS = 1_000

#: Largest accepted MOC text or FITS file, in bytes.
MAX_MOC_BYTES = 2_000_000


@dataclass(frozen=True, slots=True)
class Cone:
    """A field of view: centre (ra, dec) and radius, in degrees."""

    ra: float
    dec: float
    radius: float


@dataclass(frozen=True, slots=True)
class Footprint:
    """A parsed footprint: how it was given, its MOC and what is stored of it."""

    kind: str  # "moc", "cone" or "fields"
    moc: MOC
    order: int
    area_deg2: float
    ranges: NDArray[np.uint64]  # (n, 2) order-29 [lo, hi)


def _check_cone(c: Cone) -> Cone:
    ok = (math.isfinite(c.ra) and math.isfinite(c.dec) and math.isfinite(c.radius)
          and -90.0 <= c.dec <= 90.0 and 0.0 < c.radius <= 180.0)
    if not ok:
        raise InvalidInput("a cone needs a finite ra, dec in [-90, 90] and radius in "
                           "(0, 180] degrees", details={"cone": [c.ra, c.dec, c.radius]})
    return Cone(c.ra % 360.0, c.dec, c.radius)


def _cones_moc(cones: list[Cone]) -> MOC:
    # A radius below a cell's size still covers its cell; the order stops at MAX_ORDER
    # (and log2 of 234/5e-324 would overflow).
    order = min(tile_order(max(min(c.radius for c in cones), 1e-6)), MAX_ORDER)
    return MOC.from_cones(Longitude([c.ra for c in cones] * u.deg),
                          Latitude([c.dec for c in cones] * u.deg),
                          radius=[c.radius for c in cones] * u.deg, max_depth=order,
                          union_strategy="small_cones")


def _fits_moc(data: bytes) -> MOC:
    # mocpy reads FITS from a path only: a private temporary file, removed at once.
    fd, path = tempfile.mkstemp(suffix=".fits")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        moc = MOC.from_fits(path)
    finally:
        os.unlink(path)
    if not isinstance(moc, MOC):
        raise InvalidInput("the FITS file holds no spatial MOC")
    return moc


def _text_moc(text: str) -> MOC:
    stripped = text.strip()
    if stripped.startswith("{"):
        return MOC.from_json(json.loads(stripped))
    return MOC.from_str(stripped)


def parse_moc(data: str | bytes) -> MOC:
    """A MOC from ASCII or JSON text, or FITS bytes; :class:`InvalidInput` otherwise."""
    if len(data) > MAX_MOC_BYTES:
        raise InvalidInput(f"a MOC is at most {MAX_MOC_BYTES} bytes")
    try:
        if isinstance(data, bytes):
            if data.startswith(b"SIMPLE"):
                return _fits_moc(data)
            return _text_moc(data.decode("utf-8"))
        return _text_moc(data)
    except InvalidInput:
        raise
    except BaseException as exc:  # mocpy raises many kinds (ValueError, OSError, its own)
        # A panic in mocpy's Rust core arrives as pyo3's PanicException, a BaseException.
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise InvalidInput(f"not a MOC (ASCII, JSON or FITS): {type(exc).__name__}: "
                           f"{str(exc)[:200]}") from exc


def footprint(kind: str, moc: MOC) -> Footprint:
    """The stored form of ``moc``: degraded to :data:`MAX_ORDER`, at most
    :data:`MAX_RANGES` ranges; an empty footprint is refused."""
    if moc.max_order > MAX_ORDER:
        moc = moc.degrade_to_order(MAX_ORDER)
    ranges = np.asarray(moc.to_depth29_ranges, dtype=np.uint64).reshape(-1, 2)
    if len(ranges) == 0:
        raise InvalidInput("the footprint is empty")
    if len(ranges) > MAX_RANGES:
        raise InvalidInput(f"the footprint has {len(ranges)} ranges, at most {MAX_RANGES} "
                           "are kept: give a coarser MOC", details={"ranges": len(ranges)})
    return Footprint(kind, moc, int(moc.max_order), float(moc.sky_fraction) * FULL_SKY_DEG2,
                     ranges)


def from_moc(data: str | bytes) -> Footprint:
    """The footprint of a MOC in ASCII, JSON or FITS."""
    return footprint("moc", parse_moc(data))


def from_cones(cones: list[Cone]) -> Footprint:
    """The footprint of one cone (``kind`` cone) or the union of several (fields)."""
    if not cones:
        raise InvalidInput("a footprint needs at least one field")
    if len(cones) > MAX_FIELDS:
        raise InvalidInput(f"at most {MAX_FIELDS} fields")
    checked = [_check_cone(c) for c in cones]
    return footprint("cone" if len(checked) == 1 else "fields", _cones_moc(checked))
