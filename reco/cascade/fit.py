"""Fits of the cascade hypothesis: the vertex fit, the full fit, and the vertex/time profile of
fixed directions.

The vertex and full fits are scipy's Nelder–Mead on parameters scaled to comparable steps
(10 m, 30 ns, 0.1 rad): two fits per event. The profile of a scan's hundreds of directions is
a batched Levenberg–Marquardt of our own (:func:`profile_directions`), since scipy minimises
one problem at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import healpy as hp
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from reco.cascade.model import PreparedCascade, negloglike, time_nll
from reco.coords import direction_vector

FloatArray = NDArray[np.float64]

_SCALE = np.array([10.0, 10.0, 10.0, 30.0])
"""Parameter scale of (x, y, z, t0) for the minimisers [m, m, m, ns]."""
VERTEX_LEASH_M = 150.0
"""Distance [m] from the seed (the cleaned hits' centre) beyond which the time-only vertex fit
is pulled back (a Gaussian penalty of 10 m width)."""
_ISOTROPIC = np.zeros((1, 3))
"""A zero travel vector: every sensor at :math:`\\cos\\eta = 0`, i.e. no direction."""


@dataclass(frozen=True)
class CascadeFit:
    """A fitted cascade.

    Attributes
    ----------
    vertex : ndarray (3,)
        [m].
    time : float
        [ns].
    zenith, azimuth : float
        Source direction (where the neutrino came from), detector frame [rad].
    energy_tev : float
        Energy estimate from the total charge [TeV].
    llh : float
        :math:`-\\ln L` at the fit.
    """

    vertex: FloatArray
    time: float
    zenith: float
    azimuth: float
    energy_tev: float
    llh: float


def _nll_vertex(prep: PreparedCascade, travel: FloatArray) -> Callable[[FloatArray], float]:
    """The scalar objective of scaled ``(x, y, z, t0)`` for one travel direction."""
    def f(scaled: FloatArray) -> float:
        nll, _ = negloglike(prep, (scaled * _SCALE)[None, :], travel)
        value = float(nll[0])
        return value if np.isfinite(value) else 1e300

    return f


def fit_vertex(prep: PreparedCascade, seed: FloatArray | None = None) -> FloatArray:
    """The vertex fit: ``(x, y, z, t0)`` of an isotropic point source (no direction), from
    ``seed`` (default the prepared event's, :func:`reco.cascade.model.seed_vertex`)."""
    start = prep.seed if seed is None else seed
    f = _nll_vertex(prep, _ISOTROPIC)
    best = minimize(f, start / _SCALE, method="Nelder-Mead",
                    options={"xatol": 1e-3, "fatol": 1e-4, "maxiter": 2000})
    # A second pass from the first one's end: Nelder–Mead's simplex can collapse early.
    best = minimize(f, best.x, method="Nelder-Mead",
                    options={"xatol": 1e-3, "fatol": 1e-4, "maxiter": 2000})
    return np.asarray(best.x * _SCALE)


def fit_vertex_time(prep: PreparedCascade, seed: FloatArray | None = None) -> FloatArray:
    """The robust vertex fit: ``(x, y, z, t0)`` from the time term alone (an isotropic point
    source). The charge term is left out: its light model (radial fall-off, angular profile)
    is what differs most between our model and real or perturbed ice, and with it the vertex
    moves towards the bright side (18 m along the direction on perturbed ice, see
    ``bench/RESULTS.md``)."""
    start = prep.seed if seed is None else seed

    def f(scaled: FloatArray) -> float:
        p = scaled * _SCALE
        value = float(time_nll(prep, p[None, :3], p[None, 3], _ISOTROPIC)[0])
        # Keep the vertex near the light: far away every pulse looks like noise.
        away = max(float(np.linalg.norm(p[:3] - prep.seed[:3])) - VERTEX_LEASH_M, 0.0)
        value += 0.5 * (away / 10.0) ** 2
        return value if np.isfinite(value) else 1e300

    opts = {"xatol": 1e-3, "fatol": 1e-4, "maxiter": 2000}
    found: list[tuple[float, FloatArray]] = []
    for x0 in [start, *_vertex_starts(prep)]:
        x0 = _best_time(prep, x0, f)
        best = minimize(f, x0 / _SCALE, method="Nelder-Mead", options=opts)
        found.append((float(best.fun), np.asarray(best.x)))
    # A second pass from the best start's end: Nelder–Mead's simplex can collapse early.
    best = minimize(f, min(found, key=lambda item: item[0])[1], method="Nelder-Mead",
                    options=opts)
    return np.asarray(best.x * _SCALE)


def _best_time(prep: PreparedCascade, x0: FloatArray,
               f: Callable[[FloatArray], float]) -> FloatArray:
    """``x0`` with its time replaced by the best of a few candidates (quantiles of the pulses'
    times less the straight travel time): the vertex fit is lost from a poor time."""
    from reco.physics import C_ICE

    d = np.linalg.norm(prep.pos - x0[:3], axis=1)
    cands = np.quantile(prep.time - d / C_ICE, [0.01, 0.03, 0.1, 0.2, 0.3])
    trials = [np.array([*x0[:3], t]) for t in (*cands, x0[3])]
    return min(trials, key=lambda x: f(x / _SCALE))


def _vertex_starts(prep: PreparedCascade) -> list[FloatArray]:
    """More starts of the vertex fit (its minima are many where the shower is near an edge):
    the brightest sensor and the charge-weighted centre of the hit sensors, each with the time
    at which light from it reaches the earliest pulses."""
    from reco.physics import C_ICE

    hit = prep.charge > 0
    starts = []
    for point in (prep.sensors[np.argmax(prep.charge)],
                  (prep.sensors[hit] * prep.charge[hit, None]).sum(axis=0)
                  / max(float(prep.charge[hit].sum()), 1e-9)):
        d = np.linalg.norm(prep.pos - point, axis=1)
        starts.append(np.array([*point, float(np.quantile(prep.time - d / C_ICE, 0.1))]))
    return starts


def centroid_travel(prep: PreparedCascade, vertex: FloatArray) -> FloatArray:
    """Charge-weighted mean of the unit vectors from ``vertex`` to the hit sensors: a
    direction of motion that needs no light model (3,), or zeros where there is none."""
    rel = prep.sensors - vertex[:3]
    d = np.maximum(np.linalg.norm(rel, axis=1), 1e-6)
    vec = (prep.charge[:, None] * rel / d[:, None]).sum(axis=0)
    norm = float(np.linalg.norm(vec))
    return np.asarray(vec / norm if norm > 0 else np.zeros(3))


def fit_direction(prep: PreparedCascade, params: FloatArray) -> CascadeFit:
    """The direction at a fixed vertex and time ``params``: the best of the nside-8
    directions and of the charge centroid's (:func:`centroid_travel`), then Nelder–Mead on
    (zenith, azimuth) from the best three of them (degenerate minima are common)."""
    theta, phi = hp.pix2ang(8, np.arange(hp.nside2npix(8)))
    travel = travel_vectors(theta, phi)
    cen = centroid_travel(prep, params)
    if np.any(cen):
        travel = np.vstack([travel, cen])
        src = -cen
        theta = np.append(theta, np.arccos(np.clip(src[2], -1.0, 1.0)))
        phi = np.append(phi, np.mod(np.arctan2(src[1], src[0]), 2 * np.pi))
    nll, _ = negloglike(prep, np.repeat(params[None, :], len(travel), axis=0), travel)
    best: CascadeFit | None = None
    for j in np.argsort(np.where(np.isfinite(nll), nll, np.inf))[:3]:
        fit = _fit_angles(prep, params, float(theta[j]), float(phi[j]))
        if best is None or fit.llh < best.llh:
            best = fit
    assert best is not None
    return best


def _fit_angles(prep: PreparedCascade, params: FloatArray, zenith: float,
                azimuth: float) -> CascadeFit:
    """Nelder–Mead on the direction alone at fixed ``params``."""
    p = params[None, :]

    def f(v: FloatArray) -> float:
        nll, _ = negloglike(prep, p, travel_vectors(np.array([v[0]]), np.array([v[1]])))
        value = float(nll[0])
        return value if np.isfinite(value) else 1e300

    res = minimize(f, np.array([zenith, azimuth]), method="Nelder-Mead",
                   options={"xatol": 1e-4, "fatol": 1e-4, "maxiter": 500,
                            "initial_simplex": np.array([[zenith, azimuth],
                                                         [zenith + 0.1, azimuth],
                                                         [zenith, azimuth + 0.1]])})
    vec = direction_vector(float(res.x[0]), float(res.x[1]))
    zen = float(np.arccos(np.clip(vec[2], -1.0, 1.0)))
    azi = float(np.mod(np.arctan2(vec[1], vec[0]), 2 * np.pi))
    nll, energy = negloglike(prep, p, travel_vectors(np.array([zen]), np.array([azi])))
    return CascadeFit(params[:3].copy(), float(params[3]), zen, azi, float(energy[0]),
                      float(nll[0]))


def travel_vectors(zenith: FloatArray, azimuth: FloatArray) -> FloatArray:
    """Directions of motion (p, 3) for source directions ``(zenith, azimuth)`` [rad]."""
    return np.asarray(-direction_vector(np.atleast_1d(zenith), np.atleast_1d(azimuth)))


def profile_directions(
    prep: PreparedCascade, travel: FloatArray, start: FloatArray, n_iter: int = 10
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Minimise over ``(x, y, z, t0)`` for each fixed direction of motion ``travel`` (p, 3)
    from ``start`` (p, 4); returns ``(-ln L (p,), params (p, 4), energy [TeV] (p,))``.

    Levenberg–Marquardt on finite-difference derivatives, all directions at once (16 batched
    evaluations per iteration): scipy minimises one problem at a time, and one batched
    evaluation of a few hundred directions costs about what one costs alone.
    """
    h = 0.1  # scaled units: 1 m, 3 ns

    def f(scaled: FloatArray) -> FloatArray:
        nll, _ = negloglike(prep, scaled * _SCALE, travel)
        return np.where(np.isfinite(nll), nll, 1e300)

    x = np.asarray(start, dtype=float) / _SCALE
    f0 = f(x)
    damping = np.full(len(x), 1e-3)
    eye = np.eye(4)
    for _ in range(n_iter):
        fp = np.stack([f(x + h * eye[i]) for i in range(4)], axis=1)
        fm = np.stack([f(x - h * eye[i]) for i in range(4)], axis=1)
        grad = (fp - fm) / (2 * h)
        hess = np.empty((len(x), 4, 4))
        for i in range(4):
            hess[:, i, i] = (fp[:, i] - 2 * f0 + fm[:, i]) / h**2
            for j in range(i + 1, 4):
                fij = f(x + h * eye[i] + h * eye[j])
                hess[:, i, j] = hess[:, j, i] = (fij - fp[:, i] - fp[:, j] + f0) / h**2
        diag = np.abs(np.diagonal(hess, axis1=1, axis2=2)) + 1e-6
        lhs = hess + damping[:, None, None] * (diag[:, :, None] * eye)
        step = -np.linalg.solve(lhs, grad[..., None])[..., 0]
        step = np.clip(np.nan_to_num(step), -3.0, 3.0)
        cand = x + step
        fc = f(cand)
        better = fc < f0
        x = np.where(better[:, None], cand, x)
        f0 = np.where(better, fc, f0)
        damping = np.where(better, np.maximum(damping * 0.2, 1e-6), damping * 10.0)
    params = x * _SCALE
    nll, energy = negloglike(prep, params, travel)
    return np.asarray(nll), np.asarray(params), np.asarray(energy)


def best_direction(
    prep: PreparedCascade, params: FloatArray, zenith: FloatArray, azimuth: FloatArray
) -> int:
    """Index of the direction with the lowest :math:`-\\ln L` at fixed ``params``."""
    travel = travel_vectors(zenith, azimuth)
    nll, _ = negloglike(prep, np.repeat(params[None, :], len(travel), axis=0), travel)
    return int(np.nanargmin(nll))


def fit_full(prep: PreparedCascade, params: FloatArray, zenith: float, azimuth: float,
             ) -> CascadeFit:
    """All of ``(x, y, z, t0, zenith, azimuth)`` from a start (energy profiled)."""

    def f(v: FloatArray) -> float:
        p = v[:4] * _SCALE
        travel = travel_vectors(np.array([v[4] * 0.1]), np.array([v[5] * 0.1]))
        nll, _ = negloglike(prep, p[None, :], travel)
        value = float(nll[0])
        return value if np.isfinite(value) else 1e300

    x0 = np.concatenate([params / _SCALE, [zenith / 0.1, azimuth / 0.1]])
    res = minimize(f, x0, method="Nelder-Mead",
                   options={"xatol": 1e-3, "fatol": 1e-4, "maxiter": 3000})
    p = np.asarray(res.x[:4] * _SCALE)
    zen_v, azi_v = float(res.x[4] * 0.1), float(res.x[5] * 0.1)
    vec = direction_vector(zen_v, azi_v)
    zen = float(np.arccos(np.clip(vec[2], -1.0, 1.0)))
    azi = float(np.mod(np.arctan2(vec[1], vec[0]), 2 * np.pi))
    nll, energy = negloglike(prep, p[None, :], travel_vectors(np.array([zen]), np.array([azi])))
    return CascadeFit(p[:3], float(p[3]), zen, azi, float(energy[0]), float(nll[0]))
