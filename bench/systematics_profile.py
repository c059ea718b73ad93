"""The per-event statistic of the region calibration without a full scan.

A region at threshold :math:`t` is :math:`\\{2\\Delta\\mathrm{LLH} \\le t\\}`, so it covers the
truth exactly when :math:`2\\Delta\\mathrm{LLH}(\\mathrm{truth}) \\le t`; calibrating the
thresholds needs, per event, only

- the best fit: the production first guess (:func:`reco.firstguess.first_guess`) continued by
  the same compass search of the production minimiser (:func:`reco.likelihood.fit_nuisance`)
  down to 0.005° (finer than an nside-512 pixel, 0.11°);
- :math:`-\\ln L` at the true direction, profiled over the same nuisance parameters as a scan
  pixel (transverse position and time of the track), seeded from the best fit's track and by a
  continuation along the great circle from the best fit to the truth (as a scan's neighbouring
  pixels seed each other).

:math:`2\\Delta\\mathrm{LLH} = 2(\\mathrm{llh_{truth}} - \\mathrm{llh_{best}})`, clipped at 0 (the
truth cannot beat the minimum; when its profile does, the search stopped short). About a second
per event instead of a minute; ``bench/systematics.py --check`` compares it with full scans.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from reco.coords import angular_distance, direction_vector, local_to_equatorial, vector_to_angles
from reco.detector import Detector
from reco.estimators import track_energy
from reco.event import Event
from reco.firstguess import first_guess, likelihood_search
from reco.likelihood import (
    FloatArray,
    PreparedEvent,
    fit_nuisance,
    frames,
    hexagon_offsets,
    prepare,
    project,
    track_point,
    transfer_seeds,
)

REFINE_START_DEG = 0.2
"""First step of the search that continues the first guess [deg]."""
REFINE_MIN_DEG = 0.005
"""Smallest step of that search [deg]."""
CONTINUATION_STEPS = 20
"""Directions of the continuation from the best fit to the truth."""


@dataclass(frozen=True)
class ProfileRow:
    """The calibration figures of one event.

    Attributes
    ----------
    llh_first_guess, llh_best, llh_truth : float
        :math:`-\\ln L` at the first guess, at the refined best fit and profiled at the truth.
    ts_truth : float
        :math:`2\\Delta\\mathrm{LLH}` of the truth (≥ 0).
    error_deg : float
        Angle between the best fit and the truth.
    ra_deg, dec_deg : float
        The best fit.
    energy_proxy_tev : float
        :func:`reco.estimators.track_energy` at the best fit (what production bins by).
    evaluations : int
        Likelihood evaluations spent.
    wall_s : float
    """

    llh_first_guess: float
    llh_best: float
    llh_truth: float
    ts_truth: float
    error_deg: float
    ra_deg: float
    dec_deg: float
    energy_proxy_tev: float
    evaluations: int
    wall_s: float

    def to_json(self) -> dict[str, Any]:
        """Plain values."""
        return asdict(self)


def _frame(zen: float, azi: float) -> Any:
    return frames(np.array([zen]), np.array([azi]))


def profile_at(
    prep: PreparedEvent, zen: float, azi: float, point: FloatArray, t: float
) -> tuple[float, FloatArray, FloatArray, int]:
    """Profile :math:`-\\ln L` at one direction from a known track ``point`` (3,) at ``t``:
    seeds at the transferred point (±10 m) and around it (40 m, fresh times).
    Returns (llh, point, time, evaluations)."""
    fr = _frame(zen, azi)
    seeds = np.concatenate(
        [
            transfer_seeds(prep, point[None, :], np.array([t]), fr, hexagon_offsets(7, 10.0)),
            transfer_seeds(prep, point[None, :], np.array([np.nan]), fr, hexagon_offsets(7, 40.0)),
        ],
        axis=1,
    )
    fit = fit_nuisance(prep, project(prep, fr), seeds, n_iter=20, tol=1e-3, margin=25.0)
    pt, tt = track_point(prep, fr, fit.theta)
    return float(fit.nll[0]), pt[0], tt, fit.evaluations


def continuation(
    prep: PreparedEvent, start: tuple[float, float], end: tuple[float, float],
    point: FloatArray, t: float, steps: int = CONTINUATION_STEPS,
) -> tuple[float, int]:
    """:math:`-\\ln L` at ``end`` (zenith, azimuth) reached in ``steps`` small moves from
    ``start``, each seeded with the previous fit's track. Returns (llh, evaluations)."""
    a, b = direction_vector(*start), direction_vector(*end)
    pt, tt = point[None, :], np.array([t])
    llh, evals = np.inf, 0
    for k in range(1, steps + 1):
        v = a * (1 - k / steps) + b * (k / steps)
        zen, azi = vector_to_angles((v / np.linalg.norm(v))[None, :])
        fr = frames(np.atleast_1d(zen), np.atleast_1d(azi))
        seeds = transfer_seeds(prep, pt, tt, fr, hexagon_offsets(3, 10.0))
        fit = fit_nuisance(prep, project(prep, fr), seeds, n_iter=12, tol=1e-3, margin=25.0)
        evals += fit.evaluations
        if np.isfinite(fit.nll[0]):
            pt, tt = track_point(prep, fr, fit.theta)
            llh = float(fit.nll[0])
    return llh, evals


def profile_event(event: Event, detector: Detector) -> ProfileRow:
    """The calibration figures of a simulated track (truth attached)."""
    truth = event.truth
    if truth is None:
        raise ValueError("the event has no truth")
    start = time.perf_counter()
    prep = prepare(event, detector)
    fg = first_guess(event, detector, prep)
    zen, azi, theta, llh = likelihood_search(
        prep, fg.zenith, fg.azimuth, np.array(fg.vertex),
        start_step_deg=REFINE_START_DEG, min_step_deg=REFINE_MIN_DEG,
    )
    fr = _frame(zen, azi)
    if not llh < fg.llh:  # the search refits its start; keep the first guess if that was lower
        zen, azi, llh, fr = fg.zenith, fg.azimuth, fg.llh, _frame(fg.zenith, fg.azimuth)
        theta = transfer_seeds(prep, np.array(fg.vertex)[None, :], np.array([fg.time]), fr,
                               np.zeros((1, 2)))[0, 0]
    best_pt, best_t = track_point(prep, fr, theta[None, :])
    energy = float(track_energy(prep, fr, theta[None, :])[0])
    llh_t, _, _, ev1 = profile_at(prep, truth.zenith, truth.azimuth, best_pt[0], float(best_t[0]))
    llh_c, ev2 = continuation(prep, (zen, azi), (truth.zenith, truth.azimuth), best_pt[0],
                              float(best_t[0]))
    llh_truth = min(llh_t, llh_c)
    ra, dec = local_to_equatorial(zen, azi, event.time)
    return ProfileRow(
        llh_first_guess=fg.llh,
        llh_best=llh,
        llh_truth=llh_truth,
        ts_truth=max(2.0 * (llh_truth - llh), 0.0),
        error_deg=float(np.degrees(angular_distance(ra, dec, truth.ra, truth.dec))),
        ra_deg=float(np.degrees(ra)),
        dec_deg=float(np.degrees(dec)),
        energy_proxy_tev=energy,
        evaluations=ev1 + ev2,
        wall_s=time.perf_counter() - start,
    )
