"""Detector geometry and detector ↔ equatorial coordinates."""

from __future__ import annotations

import csv

import numpy as np

from reco.coords import (
    angular_distance,
    direction_vector,
    equatorial_to_local,
    local_to_equatorial,
    vector_to_angles,
)
from reco.detector import Detector

from .conftest import DATA


def test_ic86_has_5160_sensors_on_86_strings_of_60(detector: Detector) -> None:
    """The geometry has 86 strings of 60 sensors each."""
    assert detector.n_sensors == 5160
    assert np.array_equal(np.unique(detector.string), np.arange(1, 87))
    assert np.all(np.bincount(detector.string)[1:] == 60)
    assert np.array_equal(np.unique(detector.dom), np.arange(1, 61))


def test_ic86_matches_the_independent_graphnet_table(detector: Detector) -> None:
    """The Prometheus table (+1948.07 m) and GraphNeT's IceCube table agree to 1 mm on every
    DOM both list (5083; the GraphNeT table lacks 77)."""
    with (DATA / "icecube86_graphnet_inice.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    ref = {
        (int(r["string"]), int(r["dom_number"])): (
            float(r["dom_x"]),
            float(r["dom_y"]),
            float(r["dom_z"]),
        )
        for r in rows
    }
    index = {
        (int(s), int(d)): i
        for i, (s, d) in enumerate(zip(detector.string, detector.dom, strict=True))
    }
    common = sorted(set(ref) & set(index))
    assert len(common) == 5083
    ours = detector.positions[[index[k] for k in common]]
    theirs = np.array([ref[k] for k in common])
    assert np.abs(ours - theirs).max() < 1e-3


def _public_events() -> np.ndarray:
    return np.loadtxt(DATA / "IC86_VII_exp_first20.txt")


def test_public_icecube_events_local_to_equatorial_within_005_deg() -> None:
    """Our detector-to-sky transform reproduces the published RA/Dec of 20 public
    IceCube events to 0.05°."""
    mjd, _, _, ra, dec, azi, zen = _public_events().T
    our_ra, our_dec = local_to_equatorial(np.radians(zen), np.radians(azi), mjd)
    sep = np.degrees(angular_distance(our_ra, our_dec, np.radians(ra), np.radians(dec)))
    assert len(sep) == 20
    assert sep.max() < 0.05


def test_public_icecube_events_equatorial_to_local_within_005_deg() -> None:
    """Our sky-to-detector transform reproduces the published zenith/azimuth of 20
    public IceCube events to 0.05°."""
    mjd, _, _, ra, dec, azi, zen = _public_events().T
    our_zen, our_azi = equatorial_to_local(np.radians(ra), np.radians(dec), mjd)
    sep = np.degrees(
        np.arccos(
            np.clip(
                np.sum(
                    direction_vector(our_zen, our_azi)
                    * direction_vector(np.radians(zen), np.radians(azi)),
                    axis=-1,
                ),
                -1.0,
                1.0,
            )
        )
    )
    assert sep.max() < 0.05


def test_coordinate_round_trip_is_exact_to_a_milliarcsecond() -> None:
    """Detector → sky → detector returns each direction to a milliarcsecond."""
    rng = np.random.default_rng(5)
    zen = np.arccos(rng.uniform(-1, 1, 200))
    azi = rng.uniform(0, 2 * np.pi, 200)
    mjd = rng.uniform(58000, 60500, 200)
    ra, dec = local_to_equatorial(zen, azi, mjd)
    zen2, azi2 = equatorial_to_local(ra, dec, mjd)
    a, b = direction_vector(zen, azi), direction_vector(zen2, azi2)
    # arctan2(|a×b|, a·b) stays accurate for tiny angles, unlike arccos of the dot product.
    sep = np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))
    assert np.degrees(sep).max() * 3.6e6 < 1.0


def test_up_going_from_the_north_pole_and_sidereal_rotation() -> None:
    """A straight up-going track comes from near the north celestial pole, and a fixed
    detector direction turns with the sidereal day."""
    # Straight up-going (zenith 180°) comes from the celestial pole of date, which precession
    # has moved ~20"/yr from the ICRS pole since J2000 (0.13° by 2023), plus the site's 0.0056°
    # offset from the geographic pole.
    _, dec = local_to_equatorial(np.pi, 0.0, 60000.0)
    assert 0.10 < 90.0 - np.degrees(dec) < 0.16
    # At the pole a fixed horizontal direction sweeps RA by 360° per sidereal day.
    t0 = 60000.0
    sidereal_day = 0.99726958
    ra1, _ = local_to_equatorial(np.pi / 2, 1.0, t0)
    ra2, _ = local_to_equatorial(np.pi / 2, 1.0, t0 + sidereal_day / 4)
    dra = np.degrees(np.mod(ra2 - ra1, 2 * np.pi))
    assert abs(min(dra, 360 - dra) - 90.0) < 0.1


def test_direction_vector_inverse() -> None:
    """vector_to_angles undoes direction_vector."""
    zen, azi = vector_to_angles(direction_vector(1.1, 4.2))
    assert np.isclose(zen, 1.1) and np.isclose(azi, 4.2)
