"""The calibration's per-event statistic without a scan (bench.systematics_profile), checked on
one perturbed track against fits seeded independently of it."""

from __future__ import annotations

import numpy as np
import pytest

from bench.systematics_profile import profile_event
from reco.coords import angular_distance, direction_vector, vector_to_angles
from reco.detector import load_ic86
from reco.likelihood import fit_nuisance, frames, hexagon_offsets, prepare, project, transfer_seeds
from reco.simulate_perturbed import perturb, simulate_perturbed_track


def test_profile_statistic_of_a_perturbed_track() -> None:
    """The best fit is a local minimum of the profile likelihood (no direction 0.05° around
    it is lower), no worse than the first guess; the truth's profile is at least as good as a
    fit seeded with the true track itself; ts = 2 (llh_truth − llh_best) ≥ 0."""
    det = load_ic86()
    pd = perturb(det, np.random.default_rng(5))
    event = simulate_perturbed_track(np.random.default_rng(7), pd, 40.0)
    truth = event.truth
    assert truth is not None
    row = profile_event(event, det)
    prep = prepare(event, det)
    assert row.llh_best <= row.llh_first_guess + 1e-9
    assert row.ts_truth == pytest.approx(max(2 * (row.llh_truth - row.llh_best), 0.0))
    assert row.energy_proxy_tev > 0 and row.evaluations > 0

    # The truth, seeded from the true track (vertex and time of the simulation).
    fr = frames(np.array([truth.zenith]), np.array([truth.azimuth]))
    seeds = transfer_seeds(prep, np.array([truth.vertex]), np.array([truth.time_ns]), fr,
                           hexagon_offsets(7, 5.0))
    own = fit_nuisance(prep, project(prep, fr), seeds, n_iter=30, tol=1e-4)
    assert row.llh_truth <= float(own.nll[0]) + 0.05

    # Eight directions 0.05° around the best fit, seeded from the truth-seeded track
    # (transferred), are none of them lower than the best fit by more than 0.05.
    ra, dec = np.radians(row.ra_deg), np.radians(row.dec_deg)
    assert row.error_deg == pytest.approx(
        np.degrees(angular_distance(ra, dec, truth.ra, truth.dec)), abs=1e-9)
    from reco.coords import equatorial_to_local

    zen, azi = equatorial_to_local(ra, dec, event.time)
    src = direction_vector(float(zen), float(azi))
    helper = np.array([0.0, 0.0, 1.0])
    t1 = np.cross(src, helper)
    t1 /= np.linalg.norm(t1)
    t2 = np.cross(src, t1)
    ang = np.arange(8) * np.pi / 4
    vec = src + np.radians(0.05) * (np.outer(np.cos(ang), t1) + np.outer(np.sin(ang), t2))
    zc, ac = vector_to_angles(vec)
    frc = frames(zc, ac)
    ring = transfer_seeds(prep, np.repeat(np.array([truth.vertex]), 8, axis=0),
                          np.full(8, truth.time_ns), frc, hexagon_offsets(7, 20.0))
    around = fit_nuisance(prep, project(prep, frc), ring, n_iter=30, tol=1e-4)
    assert np.nanmin(around.nll) >= row.llh_best - 0.05
