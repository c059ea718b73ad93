"""First guess: a line fit, then a local likelihood fit of the direction (well under a second).

1. *Cleaning.* Keep the first pulse on each sensor, and only sensors with another hit sensor
   within 150 m and 1 µs (isolated dark-noise hits have none).
2. *Line fit.* Least squares of hit position against time, :math:`\\vec p_i \\approx \\vec r +
   \\vec v t_i`, solved in closed form (:math:`\\vec v = \\mathrm{cov}(\\vec p, t) /
   \\mathrm{var}(t)`) and re-solved three times with Huber weights to tame late, scattered hits.
   The source direction is :math:`-\\vec v/|\\vec v|`.
3. *Likelihood.* A compass search on the sphere around the line fit: at each step the eight
   neighbouring directions (tangent-plane offsets) are fitted by
   :func:`reco.likelihood.fit_nuisance`, split among up to four threads (the compiled kernel
   releases the GIL; the result is that of one call); move to the best, otherwise halve the
   step, down to 0.05°.
"""

from __future__ import annotations

import json
import os
import time as _time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np

from reco.coords import local_to_equatorial, vector_to_angles
from reco.detector import Detector
from reco.event import Event
from reco.likelihood import (
    FloatArray,
    NuisanceFit,
    PreparedEvent,
    fit_nuisance,
    frames,
    hexagon_offsets,
    prepare,
    project,
    track_point,
    transfer_seeds,
)

CLEAN_RADIUS_M = 150.0
"""Neighbour distance for the noise cleaning [m]."""
CLEAN_WINDOW_NS = 1000.0
"""Neighbour time window for the noise cleaning [ns]."""
MAX_SEARCH_STEPS = 400
"""Most steps of the compass search (moves plus halvings; an alert event needs a few
dozen). The search stops there at its best direction so far: the work of one event is
bounded whatever its pulses."""
CLEAN_BLOCK = 512
"""Sensors per block of the neighbour count (bounds its memory to a few MB)."""
SEARCH_PRUNE_AFTER = 1
"""Newton iterations of the three seeds of a search step before only the best goes on."""
FIT_THREADS_MAX = 4
"""Most threads that fit the eight directions of a search step side by side."""

_deadline: ContextVar[float | None] = ContextVar("first_guess_deadline", default=None)


class BudgetExceeded(RuntimeError):
    """The first guess ran past the deadline set by :func:`first_guess_budget`."""


@contextmanager
def first_guess_budget(seconds: float) -> Iterator[None]:
    """Within the block, a first guess that runs longer than ``seconds`` (wall clock,
    counted from entering the block) raises :class:`BudgetExceeded` at its next step."""
    token = _deadline.set(_time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def check_budget() -> None:
    """Raise :class:`BudgetExceeded` if the current budget's deadline has passed."""
    deadline = _deadline.get()
    if deadline is not None and _time.monotonic() > deadline:
        raise BudgetExceeded("first-guess budget exhausted")


@dataclass(frozen=True)
class FirstGuess:
    """Fast direction estimate.

    Attributes
    ----------
    zenith, azimuth : float
        Source direction in the detector frame [rad].
    ra, dec : float
        Source direction, ICRS [rad].
    vertex : tuple of float
        Fitted track point [m] (the point of the track in the plane through the event's
        charge centre perpendicular to it).
    time : float
        Time the muon passes ``vertex`` [ns].
    llh : float
        :math:`-\\ln L` at the fit.
    linefit_zenith, linefit_azimuth : float
        The line-fit direction [rad] the search started from.
    sigma_deg : float
        Circularised paraboloid uncertainty [deg] (:func:`paraboloid_sigma`); NaN when the
        likelihood is not convex around the fit. :func:`error_radii` turns it into calibrated
        50 % / 90 % radii.
    elapsed : float
        Wall time [s].
    """

    zenith: float
    azimuth: float
    ra: float
    dec: float
    vertex: tuple[float, float, float]
    time: float
    llh: float
    linefit_zenith: float
    linefit_azimuth: float
    sigma_deg: float
    elapsed: float


def clean_hits(event: Event, detector: Detector) -> tuple[FloatArray, FloatArray]:
    """First-pulse positions (n, 3) and times (n,) of sensors that pass the noise cleaning."""
    order = np.lexsort((event.pulse_time, event.sensor))
    sensors, first = np.unique(event.sensor[order], return_index=True)
    pos = detector.positions[sensors]
    t = event.pulse_time[order][first]
    neighbours = np.zeros(len(t), dtype=np.int64)
    for lo in range(0, len(t), CLEAN_BLOCK):  # blocks of rows: memory O(block × n)
        hi = lo + CLEAN_BLOCK
        dist = np.linalg.norm(pos[lo:hi, None, :] - pos[None, :, :], axis=-1)
        near = (dist < CLEAN_RADIUS_M) & (np.abs(t[lo:hi, None] - t[None, :]) < CLEAN_WINDOW_NS)
        neighbours[lo:hi] = near.sum(axis=1)
    keep = neighbours > 1  # itself plus at least one neighbour
    if keep.sum() < 3:
        keep[:] = True
    return pos[keep], t[keep]


def line_fit(pos: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Huber-weighted line fit; returns the velocity vector [m/ns] and the point at mean time."""
    weights = np.ones(len(t))
    velocity = np.zeros(3)
    point = pos.mean(axis=0)
    for _ in range(4):
        wsum = weights.sum()
        t_mean = weights @ t / wsum
        p_mean = weights @ pos / wsum
        dt = t - t_mean
        velocity = (weights * dt) @ (pos - p_mean) / max(weights @ (dt * dt), 1e-9)
        point = p_mean
        resid = np.linalg.norm(pos - (p_mean + np.outer(dt, velocity)), axis=1)
        weights = np.where(resid < 50.0, 1.0, 50.0 / np.maximum(resid, 1e-9))
    return velocity, point


def _tangent_basis(zen: float, azi: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    src = np.array([np.sin(zen) * np.cos(azi), np.sin(zen) * np.sin(azi), np.cos(zen)])
    helper = np.array([0.0, 0.0, 1.0]) if abs(src[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    t1 = np.cross(src, helper)
    t1 /= np.linalg.norm(t1)
    return src, t1, np.cross(src, t1)


def _threads() -> int:
    """Threads for the directions of one step: the usable cores, at most
    :data:`FIT_THREADS_MAX`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(FIT_THREADS_MAX, cores or 1))


@cache
def _pool() -> ThreadPoolExecutor:
    """The threads that fit the directions of one step side by side (made once)."""
    return ThreadPoolExecutor(_threads(), "nufair-firstguess")


def _fit_chunk(prep: PreparedEvent, zen: FloatArray, azi: FloatArray, point: FloatArray,
               time: FloatArray, prune_after: int) -> NuisanceFit:
    fr = frames(zen, azi)
    seeds = transfer_seeds(prep, point, time, fr, hexagon_offsets(3, 5.0))
    return fit_nuisance(prep, project(prep, fr), seeds, n_iter=8, tol=1e-3, margin=25.0,
                        prune_after=prune_after, keep=1 if prune_after < 4 else 2)


def fit_directions(prep: PreparedEvent, zen: FloatArray, azi: FloatArray, point: FloatArray,
                   time: FloatArray, *, prune_after: int = 4, threads: int | None = None,
                   ) -> NuisanceFit:
    """Fit the track position and time of each direction ``(zen, azi)`` (p,), seeded at the
    known track points ``point`` (p, 3) passed at ``time`` (p,) (three seeds 5 m apart).

    After ``prune_after`` iterations the best two seeds go on (the default), or only the
    best one when ``prune_after`` < 4 (the search steps: one Newton iteration from three
    seeds picks the basin, then one seed converges; 1.6 times fewer evaluations than
    two seeds after four, and the same directions within the first guess's accuracy,
    ``bench/RESULTS.md``, fourth session).

    The directions are independent fits, so they are split into ``threads`` parts (default:
    one per usable core, at most :data:`FIT_THREADS_MAX`) fitted on the threads of
    :func:`_pool` (the compiled kernel releases the GIL): the result is the same as one call
    over all of them (``threads=1``), in less wall time on more than one core.
    """
    n_chunks = min(_threads() if threads is None else threads, len(zen))
    if n_chunks <= 1:
        return _fit_chunk(prep, zen, azi, point, time, prune_after)
    parts = np.array_split(np.arange(len(zen)), n_chunks)
    fits = list(_pool().map(
        lambda i: _fit_chunk(prep, zen[i], azi[i], point[i], time[i], prune_after), parts))
    return NuisanceFit(np.concatenate([f.nll for f in fits]),
                       np.concatenate([f.theta for f in fits]),
                       evaluations=sum(f.evaluations for f in fits))


def likelihood_search(
    prep: PreparedEvent,
    zenith: float,
    azimuth: float,
    point: FloatArray,
    n_seeds: int = 7,
    start_step_deg: float = 3.0,
    min_step_deg: float = 0.05,
    max_steps: int = MAX_SEARCH_STEPS,
) -> tuple[float, float, FloatArray, float]:
    """Compass search of the direction; returns (zenith, azimuth, theta, llh).

    At most ``max_steps`` steps (then the best so far); :class:`BudgetExceeded` if the
    budget of :func:`first_guess_budget` runs out."""
    fr = frames(np.array([zenith]), np.array([azimuth]))
    seeds = transfer_seeds(
        prep, point[None, :], np.array([np.nan]), fr, hexagon_offsets(n_seeds, 30.0)
    )
    fit = fit_nuisance(prep, project(prep, fr), seeds, n_iter=15, tol=1e-3, margin=25.0)
    best_llh = float(fit.nll[0])
    best_theta = fit.theta[0]
    best_point, best_time = track_point(prep, fr, fit.theta)
    angles = np.arange(8) * np.pi / 4
    step = np.radians(start_step_deg)
    steps = 0
    while step >= np.radians(min_step_deg) and steps < max_steps:
        steps += 1
        check_budget()
        src, t1, t2 = _tangent_basis(zenith, azimuth)
        vec = src[None, :] + step * (
            np.cos(angles)[:, None] * t1[None, :] + np.sin(angles)[:, None] * t2
        )
        zen_c, azi_c = vector_to_angles(vec)
        fit = fit_directions(prep, zen_c, azi_c, np.repeat(best_point, 8, axis=0),
                             np.repeat(best_time, 8), prune_after=SEARCH_PRUNE_AFTER)
        nll = np.where(np.isfinite(fit.nll), fit.nll, np.inf)
        i = int(np.argmin(nll))
        if nll[i] < best_llh - 1e-6:
            zenith, azimuth = float(zen_c[i]), float(azi_c[i])
            best_llh = float(nll[i])
            best_theta = fit.theta[i]
            best_point, best_time = track_point(
                prep, frames(zen_c[i : i + 1], azi_c[i : i + 1]), fit.theta[i : i + 1]
            )
        else:
            step /= 2.0
    return zenith, azimuth, np.asarray(best_theta), best_llh


def paraboloid_sigma(
    prep: PreparedEvent,
    zenith: float,
    azimuth: float,
    point: FloatArray,
    time: float,
    llh: float,
    delta_deg: float = 0.3,
) -> float:
    r"""Circularised uncertainty [deg] of a direction fit from the curvature of
    :math:`-\ln L` around it (a "paraboloid" fit).

    The profile :math:`-\ln L` is fitted at eight directions on a ring of ``delta_deg``
    around the fit (tangent-plane coordinates :math:`x, y`), each with its own track position
    and time, by :math:`\Delta(x, y) = g_x x + g_y y + \tfrac12 (A x^2 + 2 B x y + C y^2)`
    (least squares, five parameters, eight points; the linear terms absorb a fit that is
    not exactly at the minimum). The covariance is the inverse of
    :math:`H = [[A, B], [B, C]]` and the circularised :math:`\sigma = (\det H)^{-1/4}`.
    NaN when :math:`H` is not positive definite.
    """
    delta = np.radians(delta_deg)
    angles = np.arange(8) * np.pi / 4
    src, t1, t2 = _tangent_basis(zenith, azimuth)
    x, y = delta * np.cos(angles), delta * np.sin(angles)
    vec = src[None, :] + x[:, None] * t1[None, :] + y[:, None] * t2[None, :]
    zen_c, azi_c = vector_to_angles(vec)
    fit = fit_directions(prep, zen_c, azi_c, np.repeat(point[None, :], 8, axis=0), np.full(8, time))
    d = fit.nll - llh
    design = np.column_stack([x, y, 0.5 * x * x, x * y, 0.5 * y * y])
    if not np.all(np.isfinite(d)):
        return float("nan")
    coef = np.linalg.lstsq(design, d, rcond=None)[0]
    a, b, c = coef[2], coef[3], coef[4]
    det = a * c - b * b
    if a <= 0 or det <= 0:
        return float("nan")
    return float(np.degrees(det**-0.25))


def error_radii(sigma_deg: float) -> tuple[float, float]:
    """Calibrated 50 % and 90 % error radii [deg] of a first guess with paraboloid
    uncertainty ``sigma_deg``: ``sigma_deg`` times the factors measured on simulated tracks
    (``reco/data/firstguess_calibration.json``, written by
    ``bench/firstguess_calibration.py``), kept within the recorded bounds. A NaN sigma gives
    the recorded fallback radii."""
    cal = first_guess_calibration()
    lo, hi = cal["radius_bounds_deg"]
    if not np.isfinite(sigma_deg):
        r50, r90 = cal["fallback_radii_deg"]
        return float(r50), float(r90)
    r50 = min(max(sigma_deg * cal["factor_50"], lo), hi)
    r90 = min(max(sigma_deg * cal["factor_90"], lo), hi)
    return float(r50), float(r90)


@cache
def first_guess_calibration() -> dict[str, Any]:
    """The recorded first-guess calibration (``reco/data/firstguess_calibration.json``)."""
    text = files("reco").joinpath("data/firstguess_calibration.json").read_text(encoding="utf-8")
    block: dict[str, Any] = json.loads(text)
    return block


def first_guess(event: Event, detector: Detector, prep: PreparedEvent | None = None) -> FirstGuess:
    """Line fit followed by a local likelihood fit.

    Examples
    --------
    >>> import numpy as np
    >>> from reco.detector import load_ic86
    >>> from reco.simulate import simulate_event
    >>> det = load_ic86()
    >>> sim = simulate_event(np.random.default_rng(1), det, energy_tev=100.0)
    >>> fg = first_guess(sim.event, det)
    >>> from reco.coords import angular_distance
    >>> float(np.degrees(angular_distance(fg.ra, fg.dec, sim.truth.ra, sim.truth.dec))) < 2.0
    True
    """
    start = _time.perf_counter()
    if prep is None:
        prep = prepare(event, detector)
    check_budget()
    pos, t = clean_hits(event, detector)
    check_budget()
    velocity, point = line_fit(pos, t)
    lf_zen, lf_azi = vector_to_angles(-velocity)
    zen, azi, theta, llh = likelihood_search(prep, float(lf_zen), float(lf_azi), point)
    fr = frames(np.array([zen]), np.array([azi]))
    vertex, vtime = track_point(prep, fr, theta[None, :])
    check_budget()
    sigma = paraboloid_sigma(prep, zen, azi, vertex[0], float(vtime[0]), llh)
    ra, dec = local_to_equatorial(zen, azi, event.time)
    return FirstGuess(
        zenith=zen,
        azimuth=azi,
        ra=float(ra),
        dec=float(dec),
        vertex=(float(vertex[0, 0]), float(vertex[0, 1]), float(vertex[0, 2])),
        time=float(vtime[0]),
        llh=llh,
        linefit_zenith=float(lf_zen),
        linefit_azimuth=float(lf_azi),
        sigma_deg=sigma,
        elapsed=_time.perf_counter() - start,
    )
