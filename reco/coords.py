r"""Detector zenith/azimuth ↔ equatorial RA/Dec at the event time, with astropy.

Conventions
-----------
Zenith and azimuth describe the direction a particle comes *from*, in the detector frame
(x grid east, y grid north along the Greenwich meridian, z up). Azimuth is measured
counter-clockwise seen from above, from the x axis. astropy's ``AltAz`` azimuth is measured
from local north through east. At the South Pole the two are related by

.. math:: \phi_\mathrm{IceCube} = 90° - \lambda_\mathrm{site} - A_\mathrm{astropy} \pmod{360°},

with :math:`\lambda_\mathrm{site}` the site longitude (east positive) and zenith
:math:`\theta = 90° - \mathrm{alt}`. We derived this relation from the public IceCube events
(``tests/data/reco/IC86_VII_exp_first20.txt``): with astropy's ICRS → AltAz and the
site below, :math:`A + \phi` is constant to 0.001° over all 20 events, and
the zenith agrees to 0.001°. astropy includes precession, nutation and aberration, and polar
motion and UT1 where its tables allow. Refraction is off (pressure 0): neutrinos do not bend.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache

import astropy.units as u
import numpy as np
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.time import Time
from astropy.utils import iers
from numpy.typing import ArrayLike, NDArray

from reco.eop import eop_rows, uses_bundled_files

SITE_LATITUDE_DEG = -89.9944
"""Latitude of IceCube [deg]."""
SITE_LONGITUDE_DEG = -62.6081
"""Longitude of IceCube [deg, east positive]."""
SITE_HEIGHT_M = 2835.0
"""Surface elevation at the South Pole [m]; the few km to the array change nothing here."""

SITE = EarthLocation.from_geodetic(
    SITE_LONGITUDE_DEG * u.deg, SITE_LATITUDE_DEG * u.deg, SITE_HEIGHT_M * u.m
)
"""The IceCube site as an astropy ``EarthLocation``."""

_AZ_OFFSET_DEG = 90.0 - SITE_LONGITUDE_DEG


def _time(time: datetime | Time | ArrayLike) -> Time:
    if isinstance(time, Time):
        return time
    if isinstance(time, datetime):
        return Time(time, scale="utc")
    return Time(np.asarray(time, dtype=float), format="mjd", scale="utc")


def _frame(time: datetime | Time | ArrayLike) -> AltAz:
    return AltAz(obstime=_time(time), location=SITE, pressure=0 * u.hPa)


_EOP_LOCK = threading.RLock()
"""Held while a transform runs with its own Earth-orientation table (astropy keeps the table
in process-wide state)."""


@lru_cache(maxsize=32)
def _eop_table(mjd_min: float, mjd_max: float) -> iers.IERS_Auto:
    """astropy's default Earth-orientation table, cut to the rows that times in
    ``[mjd_min, mjd_max]`` (UTC MJD, whole days) use (:mod:`reco.eop`)."""
    rows = eop_rows(mjd_min, mjd_max)
    return iers.IERS_Auto(
        {
            "MJD": rows.mjd * u.d,
            "UT1_UTC": rows.ut1_utc * u.s,
            "UT1Flag": rows.ut1_flag,
            "PM_x": rows.pm_x * u.arcsec,
            "PM_y": rows.pm_y * u.arcsec,
            "PolPMFlag": rows.pm_flag,
        },
        meta={"predictive_mjd": rows.predictive_mjd, "data_path": "reco.eop"},
    )


@contextmanager
def _offline(time: Time) -> Iterator[None]:
    # astropy would try to download a fresh IERS-A table for recent dates; reconstructions must
    # run offline and deterministically, so we use the bundled Earth-orientation tables (their
    # predictions are good to far below a pixel) within this scope only. Only the rows around
    # ``time`` are read (astropy's first use of its own table parses both files whole: 0.7 s).
    with _EOP_LOCK, iers.conf.set_temp("auto_download", False):
        if not uses_bundled_files():
            yield
            return
        mjd = np.atleast_1d(time.utc.mjd)
        table = _eop_table(float(np.floor(mjd.min())), float(np.floor(mjd.max())))
        with iers.earth_orientation_table.set(table):
            yield


def local_to_equatorial(
    zenith: ArrayLike, azimuth: ArrayLike, time: datetime | Time | ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ICRS ``(ra, dec)`` [rad] of detector directions ``(zenith, azimuth)`` [rad].

    ``time`` is a timezone-aware ``datetime``, an astropy ``Time`` or MJD (UTC) values; it
    broadcasts against the angles.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> ra, dec = local_to_equatorial(np.radians(180.0), 0.0, datetime(2024, 1, 1, tzinfo=UTC))
    >>> # straight up-going: from the celestial pole of date, 0.13° from ICRS's by precession
    >>> round(float(np.degrees(dec)), 2)
    89.87
    """
    zen = np.asarray(zenith, dtype=float)
    azi = np.asarray(azimuth, dtype=float)
    alt_deg = 90.0 - np.degrees(zen)
    az_deg = np.mod(_AZ_OFFSET_DEG - np.degrees(azi), 360.0)
    frame = _frame(time)
    with _offline(frame.obstime):
        local = SkyCoord(alt=alt_deg * u.deg, az=az_deg * u.deg, frame=frame)
        icrs = local.icrs
    return (
        np.asarray(icrs.ra.to_value(u.rad), dtype=float),
        np.asarray(icrs.dec.to_value(u.rad), dtype=float),
    )


def equatorial_to_local(
    ra: ArrayLike, dec: ArrayLike, time: datetime | Time | ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return detector ``(zenith, azimuth)`` [rad] of ICRS directions ``(ra, dec)`` [rad].

    The inverse of :func:`local_to_equatorial`.
    """
    frame = _frame(time)
    with _offline(frame.obstime):
        sky = SkyCoord(
            ra=np.asarray(ra, dtype=float) * u.rad,
            dec=np.asarray(dec, dtype=float) * u.rad,
            frame="icrs",
        )
        local = sky.transform_to(frame)
    zen = np.radians(90.0 - local.alt.to_value(u.deg))
    azi = np.radians(np.mod(_AZ_OFFSET_DEG - local.az.to_value(u.deg), 360.0))
    return np.asarray(zen, dtype=float), np.asarray(azi, dtype=float)


def direction_vector(zenith: ArrayLike, azimuth: ArrayLike) -> NDArray[np.float64]:
    r"""Unit vector(s) pointing *towards* the source, detector frame, shape ``(..., 3)``.

    .. math:: \hat o = (\sin\theta\cos\phi, \sin\theta\sin\phi, \cos\theta)

    A particle coming from ``(zenith, azimuth)`` travels along :math:`-\hat o`.
    """
    zen = np.asarray(zenith, dtype=float)
    azi = np.asarray(azimuth, dtype=float)
    return np.stack([np.sin(zen) * np.cos(azi), np.sin(zen) * np.sin(azi), np.cos(zen)], axis=-1)


def vector_to_angles(
    vec: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Inverse of :func:`direction_vector`: ``(zenith, azimuth)`` [rad] of source vectors."""
    v = np.asarray(vec, dtype=float)
    norm = np.linalg.norm(v, axis=-1)
    zen = np.arccos(np.clip(v[..., 2] / norm, -1.0, 1.0))
    azi = np.mod(np.arctan2(v[..., 1], v[..., 0]), 2 * np.pi)
    return zen, azi


def angular_distance(
    ra1: ArrayLike, dec1: ArrayLike, ra2: ArrayLike, dec2: ArrayLike
) -> NDArray[np.float64]:
    """Great-circle distance [rad] between (longitude, latitude) pairs [rad] (Vincenty form)."""
    a1, d1, a2, d2 = (np.asarray(x, dtype=float) for x in (ra1, dec1, ra2, dec2))
    dra = a2 - a1
    num = np.hypot(
        np.cos(d2) * np.sin(dra), np.cos(d1) * np.sin(d2) - np.sin(d1) * np.cos(d2) * np.cos(dra)
    )
    den = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(dra)
    return np.asarray(np.arctan2(num, den), dtype=float)
