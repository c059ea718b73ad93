"""Random footprints and alerts for the subscription tests and the bench (seeded).

Footprints are built here with mocpy and healpy directly (the expectation side); the
tests give them to nufair in the forms a client would (cone, fields, MOC ASCII / JSON /
FITS) and compare what nufair matched with mocpy's intersections of these MOCs.
"""

from __future__ import annotations

import base64
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import astropy.units as u
import healpy as hp
import numpy as np
from astropy.coordinates import Latitude, Longitude, SkyCoord
from mocpy import MOC

from catalog.notices.parsed import ErrorRegion, NoticeRecord, RevisionKind, Source, Stream

STREAMS = ("gold", "bronze", "cascade")


def cone_order(radius_deg: float) -> int:
    """The documented covering depth of a cone: cells ~4 times smaller than the radius
    (~58.6 deg / 2**k across), between orders 3 and 14."""
    return int(min(max(math.ceil(math.log2(58.6 * 4 / radius_deg)), 3), 14))


@dataclass
class Spec:
    """One subscription as the test registers it, and its footprint as mocpy sees it."""

    body: dict[str, Any]
    moc: MOC
    streams: tuple[str, ...]
    min_signalness: float | None


def _fits_b64(moc: MOC) -> str:
    fd, path = tempfile.mkstemp(suffix=".fits")
    os.close(fd)
    try:
        moc.save(path, format="fits", overwrite=True)
        with open(path, "rb") as fh:
            return base64.b64encode(fh.read()).decode()
    finally:
        os.unlink(path)


def _survey(rng: np.random.Generator) -> MOC:
    kind = rng.integers(4)
    if kind == 0:  # a declination band
        lo = float(rng.uniform(-90, 80))
        hi = min(lo + float(rng.uniform(2, 30)), 90.0)
        return MOC.from_zone(SkyCoord([[0, lo], [360, hi]], unit="deg"), max_depth=7)
    if kind == 1:  # a galactic-plane strip |b| < w, at order 6
        w = float(rng.uniform(2, 15))
        nside = 2**6
        theta, phi = hp.pix2ang(nside, np.arange(12 * nside**2), nest=True)
        c = SkyCoord(np.degrees(phi) * u.deg, (90 - np.degrees(theta)) * u.deg).galactic
        cells = np.flatnonzero(np.abs(c.b.deg) < w).astype(np.uint64)
        return MOC.from_healpix_cells(cells, np.full(len(cells), 6, dtype=np.uint8), 6)
    if kind == 2:  # a patchwork of random order-4..6 cells
        depth = int(rng.integers(4, 7))
        n = int(rng.integers(5, 200))
        cells = rng.choice(12 * 4**depth, size=n, replace=False).astype(np.uint64)
        return MOC.from_healpix_cells(cells, np.full(n, depth, dtype=np.uint8), depth)
    ra, dec = float(rng.uniform(0, 360)), float(rng.uniform(-60, 60))  # a quadrilateral
    w, h = float(rng.uniform(3, 25)), float(rng.uniform(3, 25))
    corners = SkyCoord([ra - w, ra + w, ra + w, ra - w] * u.deg,
                       [dec - h, dec - h, dec + h, dec + h] * u.deg)
    return MOC.from_polygon_skycoord(corners, max_depth=8)


def _cone_moc(ra: float, dec: float, r: float, order: int) -> MOC:
    return MOC.from_cone(Longitude(ra * u.deg), Latitude(dec * u.deg), radius=r * u.deg,
                         max_depth=order)


def random_spec(rng: np.random.Generator, i: int, sink: dict[str, Any]) -> Spec:
    """A random subscription: a cone, fields, or a survey-like MOC in one of its forms."""
    streams = tuple(s for s in STREAMS if rng.random() < 0.7) or ("gold",)
    min_sig = None if rng.random() < 0.7 else round(float(rng.uniform(0, 0.8)), 3)
    body: dict[str, Any] = {"name": f"sub {i}", "streams": list(streams),
                            "min_signalness": min_sig, "sink": sink}
    kind = rng.integers(4)
    if kind == 0:
        ra, dec, r = float(rng.uniform(0, 360)), float(rng.uniform(-90, 90)), float(
            rng.uniform(0.3, 15))
        body["footprint"] = {"cone": {"ra": ra, "dec": dec, "radius": r}}
        moc = _cone_moc(ra, dec, r, cone_order(r))
    elif kind == 1:
        n = int(rng.integers(2, 8))
        cones = [(float(rng.uniform(0, 360)), float(rng.uniform(-90, 90)),
                  float(rng.uniform(0.5, 5))) for _ in range(n)]
        body["footprint"] = {"fields": [{"ra": a, "dec": d, "radius": r} for a, d, r in cones]}
        order = cone_order(min(r for _, _, r in cones))
        moc = _cone_moc(*cones[0], order).union(*(_cone_moc(*c, order) for c in cones[1:]))
    else:
        moc = _survey(rng)
        form = rng.integers(3)
        body["footprint"] = ({"moc": moc.to_string("ascii")} if form == 0 else
                             {"moc": moc.to_string("json")} if form == 1 else
                             {"moc_fits_base64": _fits_b64(moc)})
    return Spec(body, moc, streams, min_sig)


T0 = datetime(2024, 3, 1, tzinfo=UTC)


def random_record(rng: np.random.Generator, i: int, number: int = 0,
                  stream: str | None = None) -> NoticeRecord:
    """A random alert revision: a circle or (one in five) a box region."""
    ra, dec = float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-1, 1))))
    r90 = float(rng.uniform(0.3, 8))
    if rng.random() < 0.2:
        a, b = r90 * float(rng.uniform(0.5, 1.5)), r90 * float(rng.uniform(0.5, 1.5))
        regions = (ErrorRegion(0.5, ra_plus=a / 2, ra_minus=a / 2, dec_plus=b / 2,
                               dec_minus=b / 2),
                   ErrorRegion(0.9, ra_plus=a, ra_minus=a * 0.8, dec_plus=b,
                               dec_minus=b * 0.9))
    else:
        regions = (ErrorRegion(0.5, radius_deg=r90 / 2), ErrorRegion(0.9, radius_deg=r90))
    sig = None if rng.random() < 0.05 else round(float(rng.uniform(0, 1)), 4)
    return NoticeRecord(
        observatory="IceCube", run_id=140000 + i, event_id=1000 + i, name=None,
        stream=Stream(stream or STREAMS[int(rng.integers(3))]),
        event_time=T0 + timedelta(days=i, hours=7),
        kind=RevisionKind.INITIAL if number == 0 else RevisionKind.UPDATE,
        source=Source.RECO, source_rev=number,
        source_key=f"reco:IceCube:{140000 + i}:{1000 + i}:{number}",
        issued_at=T0 + timedelta(days=i, hours=8, minutes=number), ra=ra, dec=dec,
        regions=regions, energy_tev=100.0, signalness=sig, far_per_year=1.0)
