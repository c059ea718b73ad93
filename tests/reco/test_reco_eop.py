"""The Earth-orientation rows of :mod:`reco.eop` against astropy's own default table, and the
transforms of :mod:`reco.coords` on them against astropy's transforms on its table."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import AltAz, SkyCoord
from astropy.time import Time
from astropy.utils import iers

from reco.coords import SITE, equatorial_to_local, local_to_equatorial
from reco.eop import eop_rows


@pytest.fixture(scope="module")
def astropy_table() -> Iterator[iers.IERS_Auto]:
    """astropy's default table as it reads it itself (both files whole), downloads off."""
    with iers.conf.set_temp("auto_download", False):
        yield iers.IERS_Auto.read()


def test_every_row_equals_astropys_default_table(astropy_table: iers.IERS_Auto) -> None:
    """MJD, UT1 − UTC, polar motion and the source flags of all ~20 000 rows are astropy's,
    bit for bit (IERS-B values laid over IERS-A as astropy does)."""
    rows = eop_rows(0.0, 1e6)
    assert len(rows.mjd) == len(astropy_table)
    assert np.array_equal(rows.mjd, astropy_table["MJD"].to_value(u.d))
    assert np.array_equal(rows.ut1_utc, astropy_table["UT1_UTC"].to_value(u.s))
    assert np.array_equal(rows.pm_x, astropy_table["PM_x"].to_value(u.arcsec))
    assert np.array_equal(rows.pm_y, astropy_table["PM_y"].to_value(u.arcsec))
    assert np.array_equal(rows.ut1_flag, np.asarray(astropy_table["UT1Flag"], dtype=str))
    assert np.array_equal(rows.pm_flag, np.asarray(astropy_table["PolPMFlag"], dtype=str))
    assert rows.predictive_mjd == astropy_table.meta["predictive_mjd"]
    # Final values and predictions are both there.
    assert {"B", "P"} <= set(rows.ut1_flag)


def test_a_window_is_the_table_around_the_times() -> None:
    """A window holds the rows that bracket each time, one more on each side."""
    rows = eop_rows(60280.4, 60283.9)
    assert rows.mjd.tolist() == [60279.0, 60280.0, 60281.0, 60282.0, 60283.0, 60284.0, 60285.0]


def _astropy_local_to_equatorial(
    zen: np.ndarray, azi: np.ndarray, t: Time
) -> tuple[np.ndarray, np.ndarray]:
    """The transform of :mod:`reco.coords`, written out on astropy's default table."""
    from reco.coords import _AZ_OFFSET_DEG

    frame = AltAz(obstime=t, location=SITE, pressure=0 * u.hPa)
    alt = (90.0 - np.degrees(zen)) * u.deg
    az = np.mod(_AZ_OFFSET_DEG - np.degrees(azi), 360.0) * u.deg
    with iers.conf.set_temp("auto_download", False):
        icrs = SkyCoord(alt=alt, az=az, frame=frame).icrs
    return icrs.ra.to_value(u.rad), icrs.dec.to_value(u.rad)


@pytest.mark.parametrize(
    "when",
    [
        datetime(2023, 12, 2, 13, 48, 51, tzinfo=UTC),  # IceCube-231202A: IERS-B values
        datetime(1995, 6, 30, 23, 59, 30, tzinfo=UTC),  # next to a leap second
        datetime(2026, 12, 20, 4, 0, 0, tzinfo=UTC),  # IERS-A predictions
    ],
)
def test_transforms_equal_astropys_on_its_own_table(when: datetime) -> None:
    """Directions over the whole sky come out bit for bit as astropy's own transform gives
    them with its default table, both ways."""
    rng = np.random.default_rng(7)
    zen = np.arccos(rng.uniform(-1, 1, 500))
    azi = rng.uniform(0, 2 * np.pi, 500)
    t_ours, t_ref = Time(when, scale="utc"), Time(when, scale="utc")
    ra, dec = local_to_equatorial(zen, azi, t_ours)
    ra_ref, dec_ref = _astropy_local_to_equatorial(zen, azi, t_ref)
    assert np.array_equal(ra, ra_ref) and np.array_equal(dec, dec_ref)
    zen_back, azi_back = equatorial_to_local(ra, dec, when)
    assert np.abs(zen_back - zen).max() < 1e-9
    assert np.abs(np.angle(np.exp(1j * (azi_back - azi)))).max() < 1e-9


def test_times_years_apart_in_one_call() -> None:
    """An array of times spanning years uses every row it needs."""
    mjd = np.array([50000.25, 55000.5, 60280.75])
    ra, dec = local_to_equatorial(np.full(3, 1.0), np.full(3, 2.0), mjd)
    ra_ref, dec_ref = _astropy_local_to_equatorial(
        np.full(3, 1.0), np.full(3, 2.0), Time(mjd, format="mjd", scale="utc")
    )
    assert np.array_equal(ra, ra_ref) and np.array_equal(dec, dec_ref)


def test_threads_at_different_times_get_their_own_rows() -> None:
    """Transforms at different times from several threads give what each gives alone
    (the table is astropy's process-wide state, held under a lock)."""
    times = [55000.5 + 400.0 * k for k in range(6)]
    expected = [local_to_equatorial(1.0, 2.0, t) for t in times]
    got: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def work(k: int) -> None:
        for _ in range(5):
            got[k] = local_to_equatorial(1.0, 2.0, times[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(times))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for k, (ra, dec) in enumerate(expected):
        assert got[k][0] == ra and got[k][1] == dec
