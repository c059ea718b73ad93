r"""The light of a point-like shower and its likelihood.

Emission
--------
A shower at vertex :math:`\vec x`, time :math:`t_0`, moving along :math:`\hat d` with energy
:math:`E` emits Cherenkov light peaked at the Cherenkov angle around :math:`\hat d`. For a
sensor at :math:`\vec p` (distance :math:`d`, :math:`\cos\eta = (\vec p - \vec x)\cdot\hat d/d`)
the expected charge is

.. math:: \mu = E\,Y_c\left(\frac{r_0}{d + r_0}\right)^2 e^{-d/\lambda_\mathrm{att}}\,
          A(\cos\eta, d) + \mu_\mathrm{noise},

with the angular profile :math:`A = 1 + (P(\cos\eta) - 1)\,e^{-d/\lambda_\mathrm{iso}}`:
:math:`P` is peaked at :math:`\cos\theta_c` (width :data:`PROFILE_WIDTH`, a floor of
backward light, mean 1 over the sphere) and scattering washes it out with distance.

Time
----
Photons travel straight at the group speed, :math:`t_\mathrm{geo} = t_0 + d / c_\mathrm{ice}`,
and are delayed by scattering as in the track likelihood (:mod:`reco.physics`: a Pandel
gamma density, softplus-regularised near zero). The time term is made robust to light that
does not follow Pandel (:data:`ROBUST_TIME`, measured on perturbed ice and Prometheus, see
``bench/RESULTS.md``): each sensor's first pulse only, with the density of the first of its
:math:`N` photons, :math:`N f (1 - F)^{N-1}` (:math:`N` its charge, at most
:data:`MPE_MAX_PHOTONS`), a Gaussian early side of :data:`EARLY_WIDTH_NS` (not the 3 ns
jitter), and a late exponential tail of weight :data:`TAIL_FRACTION`. With
:data:`BACK_DELAY` 0 it does not depend on the direction: it fixes the vertex and time, the
charge term's angular profile the direction.

Likelihood
----------
:math:`-\ln L = -\sum_\mathrm{pulses} \ln[(1-\eta) f(r_i) + \eta / T] +
\sum_\mathrm{sensors} w_j(\mu_j - n_j \ln \mu_j)`, with :math:`w_j = 1 / (1 + \delta^2 n_j)`:
a Poisson charge term whose weight stops growing past :math:`1/\delta^2` photoelectrons, since
a 10 % model error on a bright sensor is worth more than its Poisson precision. The energy is
profiled in closed form from the total charge, :math:`\hat E = Q / \sum_j g_j`
(:math:`g_j = \mu_j / E` without noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaincc, gammaln

from reco.detector import Detector
from reco.event import Event
from reco.firstguess import clean_hits
from reco.physics import C_ICE, DARK_RATE_HZ, DEFAULT_ICE, READOUT_WINDOW_NS, IceModel

FloatArray = NDArray[np.float64]

CASCADE_YIELD = 20000.0
"""Photoelectrons at :math:`d = r_0` per sensor from a 100 TeV shower, :math:`Y_c`: a
contained 100 TeV shower then gives a few thousand photoelectrons in all, IceCube's order of
magnitude (~100 PE/TeV deposited for contained showers)."""
MAX_PULSES_PER_SENSOR = 4
"""The time term uses each sensor's first pulses only, at most this many (its cost grows with
the pulses, its information mostly with the sensors)."""
PROFILE_WIDTH = 0.25
"""Width in :math:`\\cos\\eta` of the Cherenkov peak of the angular profile."""
PROFILE_FLOOR = 0.3
"""Fraction of the light emitted isotropically (the shower's spread of particle angles)."""
ISOTROPY_LENGTH_M = 100.0
"""Distance over which scattering washes out the angular profile, :math:`\\lambda_\\mathrm{iso}`."""
BACK_DELAY = 0.0
""":math:`B`: extra Pandel distance for light turning back (fraction of :math:`d` at 180°)."""
CHARGE_MODEL_ERROR = 0.1
""":math:`\\delta`: relative model error on a sensor's charge."""
NOISE_CHARGE = DARK_RATE_HZ * 1e-9 * 6000.0
"""Expected noise charge of a sensor within the event's time window (6 µs)."""
CHARGE_RADIUS_M = 300.0
"""Radius [m] around the seed vertex of the unhit sensors in the charge term."""
D_MIN_M = 1.0
"""Smallest distance [m] used in the Pandel shape and the yield."""
ROBUST_TIME = True
"""Use the robust time term (:func:`time_nll`): each sensor's first pulse, its pdf that of the
first of the sensor's photons, a wide early side and a late tail."""
EARLY_WIDTH_NS = 10.0
"""Width [ns] of the Gaussian early side of the robust time pdf (jitter and model error)."""
TAIL_FRACTION = 0.1
""":math:`\\epsilon`: weight of the late tail (delays the Pandel law does not foresee)."""
TAIL_SCALE_NS = 2000.0
"""Scale [ns] of the late tail (exponential in the residual)."""
MPE_MAX_PHOTONS = 20.0
"""Cap of the photon count in the first-photon pdf (beyond it the earliest photon's time is
ruled by jitter and the model's error more than by the count)."""


def _profile_norm() -> float:
    """Normalisation of the peaked part of :math:`P` to mean 1 over :math:`\\cos\\eta`."""
    c = np.linspace(-1.0, 1.0, 20001)
    peak = np.exp(-np.abs(c - 1.0 / 1.3195) / PROFILE_WIDTH)
    return float(1.0 / np.trapezoid(peak, c) * 2.0)


_PEAK_NORM = _profile_norm()


def angular_profile(cos_eta: FloatArray) -> FloatArray:
    """:math:`P(\\cos\\eta)`, mean 1 over the sphere."""
    peak = _PEAK_NORM * np.exp(-np.abs(cos_eta - 1.0 / 1.3195) / PROFILE_WIDTH)
    return np.asarray(PROFILE_FLOOR + (1.0 - PROFILE_FLOOR) * peak)


def charge_per_tev(d: FloatArray, cos_eta: FloatArray, ice: IceModel) -> FloatArray:
    """:math:`g = \\mu / E` [PE/TeV] at distances ``d`` and angles ``cos_eta``."""
    r0 = ice.yield_radius_m
    fade = np.exp(-d / ISOTROPY_LENGTH_M)
    profile = 1.0 + (angular_profile(cos_eta) - 1.0) * fade
    radial = (r0 / (d + r0)) ** 2 * np.exp(-d / ice.attenuation_m)
    return np.asarray(CASCADE_YIELD / 100.0 * radial * profile)


def pandel_shape(d: FloatArray, cos_eta: FloatArray, ice: IceModel) -> FloatArray:
    """Pandel shape :math:`k = d_\\mathrm{eff}/\\lambda` of the photon delay."""
    d_eff = np.maximum(d, D_MIN_M) * (1.0 + BACK_DELAY * 0.5 * (1.0 - cos_eta))
    return np.asarray(d_eff / ice.scattering_length_m)


@dataclass(frozen=True)
class PreparedCascade:
    """An event reduced to what the cascade likelihood needs.

    Attributes
    ----------
    pos, time : ndarray (n, 3), (n,)
        Sensor positions [m] and times [ns] of the pulses of the time term (each sensor's
        first :data:`MAX_PULSES_PER_SENSOR`).
    sensors : ndarray (m, 3)
        Every sensor's position (the charge term runs over all of them).
    charge : ndarray (m,)
        Charge summed per sensor (0 for sensors without pulses).
    weight : ndarray (m,)
        The charge term's weights :math:`w_j`.
    total_charge : float
    log_signal, log_noise : float
        :math:`\\ln(1-\\eta)` and :math:`\\ln(\\eta/T)` of the time term.
    ice : IceModel
    seed : ndarray (4,)
        ``(x, y, z, t0)`` seed of the vertex fit (:func:`seed_vertex`).
    """

    pos: FloatArray
    time: FloatArray
    sensors: FloatArray
    charge: FloatArray
    weight: FloatArray
    total_charge: float
    log_signal: float
    log_noise: float
    ice: IceModel
    seed: FloatArray
    count: FloatArray | None = None


def seed_vertex(event: Event, detector: Detector) -> FloatArray:
    """``(x, y, z, t0)`` seed: the mean position of the hit sensors that pass the noise
    cleaning (:func:`reco.firstguess.clean_hits`) and the 10 % quantile of their first times
    less the straight travel time from it."""
    pos, t = clean_hits(event, detector)
    centre = pos.mean(axis=0)
    d = np.linalg.norm(pos - centre, axis=1)
    return np.array([*centre, float(np.quantile(t - d / C_ICE, 0.1))])


def prepare_cascade(
    event: Event, detector: Detector, ice: IceModel = DEFAULT_ICE
) -> PreparedCascade:
    """Reduce ``event`` on ``detector`` for the cascade likelihood.

    The charge term runs over the hit sensors and the unhit ones within
    :data:`CHARGE_RADIUS_M` of the seed vertex (farther, a shower's expected charge is below
    :math:`10^{-5}` PE/TeV and the term is the noise's alone).
    """
    charge = np.bincount(event.sensor, weights=event.charge, minlength=detector.n_sensors)
    expected_noise = DARK_RATE_HZ * 1e-9 * READOUT_WINDOW_NS * detector.n_sensors
    eta = float(np.clip(expected_noise / max(event.n_pulses, 1), 1e-3, 0.5))
    seed = seed_vertex(event, detector)
    near = np.linalg.norm(detector.positions - seed[:3], axis=1) < CHARGE_RADIUS_M
    keep = near | (charge > 0)
    order = np.lexsort((event.pulse_time, event.sensor))
    sensor = event.sensor[order]
    rank = np.arange(len(sensor)) - np.searchsorted(sensor, sensor, side="left")
    first = order[rank < (1 if ROBUST_TIME else MAX_PULSES_PER_SENSOR)]
    count = np.clip(charge[event.sensor[first]], 1.0, MPE_MAX_PHOTONS)
    return PreparedCascade(
        pos=np.asarray(detector.positions[event.sensor[first]], dtype=float),
        time=np.asarray(event.pulse_time[first], dtype=float),
        sensors=np.asarray(detector.positions[keep], dtype=float),
        charge=np.asarray(charge[keep], dtype=float),
        weight=1.0 / (1.0 + CHARGE_MODEL_ERROR**2 * charge[keep]),
        total_charge=float(charge.sum()),
        log_signal=math.log1p(-eta),
        log_noise=math.log(eta / READOUT_WINDOW_NS),
        ice=ice,
        seed=seed,
        count=np.asarray(count, dtype=float) if ROBUST_TIME else None,
    )


def _geometry(points: FloatArray, vertex: FloatArray, travel: FloatArray) -> tuple[
    FloatArray, FloatArray
]:
    """Distances ``(p, n)`` and :math:`\\cos\\eta` of ``points`` (n, 3) from ``vertex`` (p, 3)
    for travel directions ``travel`` (p, 3)."""
    rel = points[None, :, :] - vertex[:, None, :]
    d = np.maximum(np.linalg.norm(rel, axis=-1), 1e-6)
    cos_eta = np.einsum("pnk,pk->pn", rel, travel) / d
    return d, cos_eta


def time_nll(prep: PreparedCascade, vertex: FloatArray, t0: FloatArray,
             travel: FloatArray) -> FloatArray:
    """The time term of :math:`-\\ln L` for ``p`` hypotheses (vertex (p, 3), t0 (p,),
    travel (p, 3)); returns (p,)."""
    ice = prep.ice
    d, cos_eta = _geometry(prep.pos, vertex, travel)
    k = pandel_shape(d, cos_eta, ice)
    if prep.count is not None:
        return _robust_time_nll(prep, d, k, prep.time[None, :] - t0[:, None] - d / C_ICE)
    r = prep.time[None, :] - t0[:, None] - d / C_ICE
    sigma = ice.jitter_ns
    s = np.maximum(sigma * np.logaddexp(0.0, r / sigma), 1e-300)
    early = np.minimum(r, 0.0) / sigma
    log_f = k * math.log(ice.beta) + (k - 1.0) * np.log(s) - ice.beta * s - gammaln(k)
    log_f = log_f - 0.5 * early * early
    per_pulse = np.logaddexp(prep.log_signal + log_f, prep.log_noise)
    return np.asarray(-per_pulse.sum(axis=1))


def _robust_time_nll(prep: PreparedCascade, d: FloatArray, k: FloatArray,
                     r: FloatArray) -> FloatArray:
    """The robust time term of residuals ``r`` (p, n): first-photon Pandel pdf of the
    sensor's photon count, Gaussian early side of :data:`EARLY_WIDTH_NS`, a late tail and
    the noise floor."""
    assert prep.count is not None
    beta = prep.ice.beta
    sigma = EARLY_WIDTH_NS
    s = np.maximum(sigma * np.logaddexp(0.0, r / sigma), 1e-300)
    early = 0.5 * (np.minimum(r, 0.0) / sigma) ** 2
    log_f = k * math.log(beta) + (k - 1.0) * np.log(s) - beta * s - gammaln(k)
    log_surv = np.log(np.maximum(gammaincc(k, beta * s), 1e-300))
    n = prep.count[None, :]
    log_first = np.log(n) + log_f + (n - 1.0) * log_surv
    log_tail = -math.log(TAIL_SCALE_NS) - np.maximum(r, 0.0) / TAIL_SCALE_NS
    log_signal = np.logaddexp(math.log1p(-TAIL_FRACTION) + log_first,
                              math.log(TAIL_FRACTION) + log_tail) - early
    per_pulse = np.logaddexp(prep.log_signal + log_signal, prep.log_noise)
    return np.asarray(-per_pulse.sum(axis=1))


def expected_charge(prep: PreparedCascade, vertex: FloatArray, travel: FloatArray) -> FloatArray:
    """:math:`g_j` [PE/TeV] of every sensor for ``p`` hypotheses; shape (p, m)."""
    d, cos_eta = _geometry(prep.sensors, vertex, travel)
    return charge_per_tev(d, cos_eta, prep.ice)


def charge_nll(prep: PreparedCascade, g: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The charge term for expected charges per TeV ``g`` (p, m), with the energy profiled
    from the total charge; returns (nll (p,), energy [TeV] (p,))."""
    energy = prep.total_charge / np.maximum(g.sum(axis=1), 1e-300)
    mu = energy[:, None] * g + NOISE_CHARGE
    nll = (prep.weight * (mu - prep.charge * np.log(mu))).sum(axis=1)
    return np.asarray(nll), np.asarray(energy)


def negloglike(prep: PreparedCascade, params: FloatArray, travel: FloatArray) -> tuple[
    FloatArray, FloatArray
]:
    """:math:`-\\ln L` and the profiled energy [TeV] for ``params`` (p, 4) = (x, y, z, t0)
    and travel directions (p, 3)."""
    vertex, t0 = params[:, :3], params[:, 3]
    g = expected_charge(prep, vertex, travel)
    q_nll, energy = charge_nll(prep, g)
    return time_nll(prep, vertex, t0, travel) + q_nll, energy
