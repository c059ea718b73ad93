r"""Per-pulse time-residual likelihood of an infinite muon track, vectorised over pixels,
vertex seeds and pulses, and its minimisation over the nuisance parameters.

Model
-----
For a fixed direction (travel vector :math:`\hat d`, transverse unit vectors
:math:`\hat e_1, \hat e_2`), the track passes the point
:math:`\vec q = \vec c + a\,\hat e_1 + b\,\hat e_2` at time :math:`t_0`, where :math:`\vec c` is
the event's charge-weighted centre. The nuisance parameters are
:math:`\theta = (a, b, t_0)`. Pulse :math:`i` (sensor at :math:`\vec p_i`, time :math:`t_i`)
has perpendicular distance :math:`\rho_i` and time residual
:math:`r_i = t_i - t_\mathrm{geo}(\vec p_i)` (:mod:`reco.physics`). The negative
log-likelihood is

.. math::

    -\ln L(\hat d, \theta) = -\sum_i \ln\left[(1 - \eta)\, f(r_i \mid k_i) + \frac{\eta}{T}\right],
    \qquad k_i = \frac{\max(\rho_i, \rho_\mathrm{min})}{\lambda \sin\theta_c},

with :math:`\eta` the expected noise fraction of the pulses (dark rate × sensors × window
:math:`T` / number of pulses) and :math:`f` the Pandel density convolved with the Gaussian
jitter :math:`\sigma`. The exact convolution has no cheap closed form, so we use

.. math::

    \ln f(r \mid k) = k \ln\beta + (k - 1)\ln s - \beta s - \ln\Gamma(k)
                      - \tfrac12 \left(\min(r, 0)/\sigma\right)^2,
    \qquad s = \sigma \ln\left(1 + e^{r/\sigma}\right),

i.e. the Pandel density at the softplus-regularised residual :math:`s` (which equals
:math:`r` for :math:`r \gg \sigma`, and keeps :math:`s^{k-1}` finite at :math:`r \to 0`),
with a Gaussian penalty for early (negative) residuals. It is smooth in :math:`\theta`, which
lets a Newton-type minimiser converge in a few steps.

Minimiser
---------
Levenberg–Marquardt with the BHHH (outer-product-of-gradients) approximation of the Hessian,
:math:`H \approx \sum_i g_i g_i^\top` where :math:`g_i = \partial \ln p_i / \partial\theta`: it
needs first derivatives only, and is the Gauss–Newton analogue for maximum likelihood. Every
seed of every pixel is iterated together for a fixed number of steps (no Python loop over
pixels), accepting a step where it lowers :math:`-\ln L` and raising the damping where it does
not. scipy.optimize minimises one problem at a time; at thousands of 3-parameter problems per
scan its per-call overhead would dominate, which is why this small solver is written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reco.coords import direction_vector
from reco.detector import Detector
from reco.event import Event
from reco.physics import (
    C_VACUUM,
    DARK_RATE_HZ,
    DEFAULT_ICE,
    READOUT_WINDOW_NS,
    RHO_DELAY,
    IceModel,
)

RHO_MIN_M = 1.0
"""Smallest perpendicular distance [m] used in the Pandel shape (a sensor's size)."""

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class PreparedEvent:
    """An event reduced to what the likelihood needs; small, so it is scattered once.

    Attributes
    ----------
    centre : ndarray (3,)
        Charge-weighted mean position of the hit sensors [m]: the origin of the transverse
        plane in which the vertex nuisance parameters live.
    rel : ndarray (n, 3)
        Pulse sensor positions relative to ``centre`` [m].
    time : ndarray (n,)
        Pulse times [ns].
    charge : ndarray (n,)
        Pulse charges.
    log_signal, log_noise : float
        :math:`\\ln(1 - \\eta)` and :math:`\\ln(\\eta / T)`.
    sensors_rel : ndarray (m, 3)
        All sensor positions relative to ``centre`` (for the energy estimate).
    ice : IceModel
        Parameters of the likelihood.
    """

    centre: FloatArray
    rel: FloatArray
    time: FloatArray
    charge: FloatArray
    log_signal: float
    log_noise: float
    sensors_rel: FloatArray
    ice: IceModel

    @property
    def n_pulses(self) -> int:
        """Number of pulses."""
        return len(self.time)


def prepare(event: Event, detector: Detector, ice: IceModel = DEFAULT_ICE) -> PreparedEvent:
    """Reduce ``event`` on ``detector`` to a :class:`PreparedEvent`."""
    pos = detector.positions[event.sensor]
    weights = event.charge / event.charge.sum()
    centre = weights @ pos
    expected_noise = DARK_RATE_HZ * 1e-9 * READOUT_WINDOW_NS * detector.n_sensors
    eta = float(np.clip(expected_noise / max(event.n_pulses, 1), 1e-3, 0.5))
    return PreparedEvent(
        centre=np.asarray(centre, dtype=float),
        rel=pos - centre,
        time=np.asarray(event.pulse_time, dtype=float),
        charge=np.asarray(event.charge, dtype=float),
        log_signal=float(np.log1p(-eta)),
        log_noise=float(np.log(eta / READOUT_WINDOW_NS)),
        sensors_rel=detector.positions - centre,
        ice=ice,
    )


@dataclass(frozen=True)
class Frames:
    """Track frames for a batch of directions (all arrays shape ``(p, 3)``).

    ``travel`` is the direction of motion (opposite to the source direction); ``e1`` and ``e2``
    complete a right-handed orthonormal basis.
    """

    travel: FloatArray
    e1: FloatArray
    e2: FloatArray


def frames(zenith: NDArray[np.float64], azimuth: NDArray[np.float64]) -> Frames:
    """Orthonormal track frames for source directions ``(zenith, azimuth)`` [rad]."""
    travel = -direction_vector(np.atleast_1d(zenith), np.atleast_1d(azimuth))
    # e1 is horizontal (perpendicular to travel and z), except for near-vertical tracks where
    # that cross product vanishes and x is used instead.
    helper = np.where(np.abs(travel[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(travel, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(travel, e1)
    return Frames(travel, e1, e2)


@dataclass(frozen=True)
class Projection:
    """Pulse coordinates in each direction's frame (all shape ``(p, n)``).

    ``tl`` is the along-track distance divided by :math:`c` [ns]; ``u``, ``w`` the transverse
    coordinates [m].
    """

    tl: FloatArray
    u: FloatArray
    w: FloatArray


def project(prep: PreparedEvent, fr: Frames) -> Projection:
    """Project the pulses onto the frames (one matrix product per axis)."""
    return Projection(
        tl=(fr.travel @ prep.rel.T) / C_VACUUM, u=fr.e1 @ prep.rel.T, w=fr.e2 @ prep.rel.T
    )


_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def _lgamma_digamma(k: FloatArray) -> tuple[FloatArray, FloatArray]:
    r""":math:`\ln\Gamma(k)` and :math:`\psi(k)` for :math:`k > 0`, to ~1e-7.

    Shift by three with :math:`\Gamma(k+1) = k\Gamma(k)`, then the Stirling series at
    :math:`x = k + 3 \ge 3`. It costs two logarithms; ``scipy.special.gammaln`` and ``digamma``
    together cost ~10× more per element and sit in the innermost loop of the scan.
    """
    x = k + 3.0
    inv = 1.0 / x
    inv2 = inv * inv
    log_x = np.log(x)
    lg = (
        (x - 0.5) * log_x
        - x
        + _HALF_LOG_2PI
        + inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0))
        - np.log(k * (k + 1.0) * (k + 2.0))
    )
    dg = (
        log_x
        - 0.5 * inv
        - inv2 * (1.0 / 12.0 - inv2 * (1.0 / 120.0 - inv2 / 252.0))
        - 1.0 / k
        - 1.0 / (k + 1.0)
        - 1.0 / (k + 2.0)
    )
    return lg, dg


def _terms(
    prep: PreparedEvent, proj: Projection, theta: FloatArray, with_derivatives: bool
) -> tuple[FloatArray, FloatArray | None, FloatArray | None]:
    """:math:`-\\ln L` and, optionally, its gradient and Hessian in :math:`\theta`.

    ``theta`` has shape ``(p, s, 3)``; returns ``(p, s)``, ``(p, s, 3)`` and ``(p, s, 3, 3)``.

    Per pulse, :math:`\\ln p = G(r, \rho)` with :math:`r = t - t_0 - l/c - R\rho`
    (:math:`R` = :data:`~reco.physics.RHO_DELAY`). With unit vectors
    :math:`(c_u, c_w) = (u - a, w - b)/\rho`, the chain rule gives

    .. math::

        \\partial_{a} \\ln p = -A c_u,\\quad \\partial_{b} \\ln p = -A c_w,\\quad
        \\partial_{t_0} \\ln p = -G_r, \\qquad A = G_\rho - R G_r,

        \\partial_{aa} = B c_u^2 + \tfrac{A}{\rho} c_w^2,\\quad
        \\partial_{ab} = (B - \tfrac{A}{\rho}) c_u c_w,\\quad
        \\partial_{bb} = B c_w^2 + \tfrac{A}{\rho} c_u^2,

        \\partial_{a t_0} = -C c_u,\\quad \\partial_{b t_0} = -C c_w,\\quad
        \\partial_{t_0 t_0} = G_{rr},

    with :math:`B = R^2 G_{rr} - 2R G_{r\rho} + G_{\rho\rho}` and
    :math:`C = R G_{rr} - G_{r\rho}`. For the noise mixture :math:`G_x = w \\ell_x` and
    :math:`G_{xy} = w \\ell_{xy} + w(1 - w)\\ell_x \\ell_y`, :math:`\\ell = \\ln f`, :math:`w` the
    signal weight. The trigamma function in :math:`\\ell_{kk}` is replaced by its asymptotic
    form :math:`1/k + 1/(2k^2)`: it only shapes the Newton step, never the value.
    """
    ice = prep.ice
    sigma = ice.jitter_ns
    beta = ice.beta
    log_beta = np.log(beta)
    kappa = ice.shape_per_rho
    a = theta[..., 0:1]
    b = theta[..., 1:2]
    t0 = theta[..., 2:3]
    du = proj.u[:, None, :] - a
    dw = proj.w[:, None, :] - b
    rho = np.sqrt(du * du + dw * dw)
    rho_c = np.maximum(rho, RHO_MIN_M)
    k = kappa * rho_c
    r = prep.time - t0 - proj.tl[:, None, :] - RHO_DELAY * rho
    z = r / sigma
    # Below z = -30 the softplus underflows; s is then e^-30 σ, already deep in the penalty.
    zc = np.maximum(z, -30.0)
    e = np.exp(-np.abs(zc))
    s = sigma * (np.maximum(zc, 0.0) + np.log1p(e))
    log_s = np.log(s)
    early = np.minimum(z, 0.0)
    lgam, digam = _lgamma_digamma(k)
    log_f = k * log_beta + (k - 1.0) * log_s - beta * s - lgam - 0.5 * early * early
    # ln[(1-eta) f + eta/T] as a log-sum-exp of A = ln(1-eta) + ln f and B = ln(eta/T).
    diff = prep.log_signal + log_f - prep.log_noise
    ed = np.exp(-np.abs(diff))
    log_p = np.maximum(diff, 0.0) + prep.log_noise + np.log1p(ed)
    nll = -log_p.sum(axis=-1)
    if not with_derivatives:
        return nll, None, None
    w = np.where(diff >= 0.0, 1.0, ed) / (1.0 + ed)  # d ln p / d ln f
    w1 = w * (1.0 - w)
    lam = np.where(zc >= 0.0, 1.0, e) / (1.0 + e)  # ds/dr = logistic(z)
    km1_s = (k - 1.0) / s
    l_r = (km1_s - beta) * lam - early / sigma
    l_rr = (
        (km1_s - beta) * lam * (1.0 - lam) / sigma
        - km1_s / s * lam * lam
        - (z < 0.0) / (sigma * sigma)
    )
    kap = np.where(rho > RHO_MIN_M, kappa, 0.0)
    l_rho = kap * (log_beta + log_s - digam)
    l_rhorho = -kap * kap * (1.0 / k + 0.5 / (k * k))
    l_rrho = kap * lam / s
    g_r = w * l_r
    g_rr = w * l_rr + w1 * l_r * l_r
    g_rrho = w * l_rrho + w1 * l_r * l_rho
    g_rhorho = w * l_rhorho + w1 * l_rho * l_rho
    big_a = w * l_rho - RHO_DELAY * g_r
    big_b = RHO_DELAY * (RHO_DELAY * g_rr - 2.0 * g_rrho) + g_rhorho
    big_c = RHO_DELAY * g_rr - g_rrho
    inv = 1.0 / np.maximum(rho, 1e-9)
    cu = du * inv
    cw = dw * inv
    a_rho = big_a * inv
    cu2 = cu * cu
    cw2 = cw * cw
    grad = np.empty((*nll.shape, 3))
    hess = np.empty((*nll.shape, 3, 3))
    # Signs: nll = -sum ln p.
    grad[..., 0] = (big_a * cu).sum(axis=-1)
    grad[..., 1] = (big_a * cw).sum(axis=-1)
    grad[..., 2] = g_r.sum(axis=-1)
    hess[..., 0, 0] = -(big_b * cu2 + a_rho * cw2).sum(axis=-1)
    hess[..., 1, 1] = -(big_b * cw2 + a_rho * cu2).sum(axis=-1)
    hess[..., 0, 1] = hess[..., 1, 0] = -((big_b - a_rho) * cu * cw).sum(axis=-1)
    hess[..., 0, 2] = hess[..., 2, 0] = (big_c * cu).sum(axis=-1)
    hess[..., 1, 2] = hess[..., 2, 1] = (big_c * cw).sum(axis=-1)
    hess[..., 2, 2] = -g_rr.sum(axis=-1)
    return nll, grad, hess


def negloglike(prep: PreparedEvent, proj: Projection, theta: FloatArray) -> FloatArray:
    """:math:`-\\ln L` for every pixel and seed; ``theta`` (p, s, 3) → (p, s)."""
    nll, _, _ = _terms(prep, proj, theta, with_derivatives=False)
    return nll


def seed_time(prep: PreparedEvent, proj: Projection, ab: FloatArray) -> FloatArray:
    """A robust :math:`t_0` for transverse positions ``ab`` (p, s, 2): the 10 % quantile of
    the residuals computed with :math:`t_0 = 0`, so most pulses start with small positive
    residuals."""
    du = proj.u[:, None, :] - ab[..., 0:1]
    dw = proj.w[:, None, :] - ab[..., 1:2]
    r = prep.time - proj.tl[:, None, :] - RHO_DELAY * np.sqrt(du * du + dw * dw)
    return np.asarray(np.quantile(r, 0.1, axis=-1))


@dataclass(frozen=True)
class NuisanceFit:
    """Result of :func:`fit_nuisance` for a batch of pixels.

    Attributes
    ----------
    nll : ndarray (p,)
        Minimum of :math:`-\\ln L` over seeds (NaN when no seed gave a finite value).
    theta : ndarray (p, 3)
        Best ``(a, b, t0)`` per pixel.
    evaluations : int
        Likelihood evaluations (value, gradient and Hessian over all pulses) per pixel, summed
        over its seeds — the cost accounting of the benchmarks.
    """

    nll: FloatArray
    theta: FloatArray
    evaluations: int


def fit_nuisance(
    prep: PreparedEvent,
    proj: Projection,
    seeds: FloatArray,
    n_iter: int = 12,
    prune_after: int = 4,
    keep: int = 2,
) -> NuisanceFit:
    r"""Minimise :math:`-\ln L` over ``(a, b, t0)`` from several seeds per pixel.

    Parameters
    ----------
    prep, proj
        The event and its projection on ``p`` directions.
    seeds : ndarray (p, s, 3)
        Starting ``(a, b, t0)``; a NaN ``t0`` is replaced by :func:`seed_time`.
    n_iter : int
        Damped-Newton iterations (fixed, for a predictable cost).
    prune_after, keep : int
        After ``prune_after`` iterations only the ``keep`` best seeds of each pixel continue
        (seeds far from the minimum by then rarely overtake; this halves the cost at 7 seeds).
    """
    theta = np.array(seeds, dtype=float)
    missing = np.isnan(theta[..., 2])
    if missing.any():
        theta[..., 2] = np.where(missing, seed_time(prep, proj, theta[..., :2]), theta[..., 2])
    nll, grad, hess = _terms(prep, proj, theta, with_derivatives=True)
    assert grad is not None and hess is not None
    damping = np.full(nll.shape, 1e-3)
    eye = np.eye(3)
    evaluations = theta.shape[1]
    for it in range(n_iter):
        if it == prune_after and theta.shape[1] > keep:
            order = np.argsort(np.where(np.isfinite(nll), nll, np.inf), axis=1)[:, :keep]
            theta = np.take_along_axis(theta, order[..., None], axis=1)
            nll = np.take_along_axis(nll, order, axis=1)
            grad = np.take_along_axis(grad, order[..., None], axis=1)
            hess = np.take_along_axis(hess, order[..., None, None], axis=1)
            damping = np.take_along_axis(damping, order, axis=1)
        evaluations += theta.shape[1]
        # Newton step on the damped Hessian; |diag| keeps the damping term positive where the
        # Hessian is not (far from the minimum).
        scale = np.abs(np.einsum("psii->psi", hess)) + 1e-6
        lhs = hess + damping[..., None, None] * scale[..., None, :] * eye
        step = -np.linalg.solve(lhs, grad[..., None])[..., 0]
        # A step larger than 30 m or 100 ns is never a good local model; clip it.
        step[..., :2] = np.clip(step[..., :2], -30.0, 30.0)
        step[..., 2] = np.clip(step[..., 2], -100.0, 100.0)
        cand = theta + step
        nll_c, grad_c, hess_c = _terms(prep, proj, cand, with_derivatives=True)
        assert grad_c is not None and hess_c is not None
        better = nll_c < nll
        theta = np.where(better[..., None], cand, theta)
        nll = np.where(better, nll_c, nll)
        grad = np.where(better[..., None], grad_c, grad)
        hess = np.where(better[..., None, None], hess_c, hess)
        damping = np.where(better, np.maximum(damping * 0.2, 1e-6), damping * 10.0)
    nll = np.where(np.isfinite(nll), nll, np.inf)
    best = np.argmin(nll, axis=1)
    rows = np.arange(len(best))
    out_nll = nll[rows, best]
    out_theta = theta[rows, best]
    bad = ~np.isfinite(out_nll)
    out_nll[bad] = np.nan
    out_theta[bad] = np.nan
    return NuisanceFit(out_nll, out_theta, evaluations=evaluations)


def track_point(
    prep: PreparedEvent, fr: Frames, theta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Absolute position [m] of the fitted track point :math:`\vec q` and its time [ns]."""
    point = prep.centre + theta[:, 0:1] * fr.e1 + theta[:, 1:2] * fr.e2
    return np.asarray(point), np.asarray(theta[:, 2])


def transfer_seeds(
    prep: PreparedEvent,
    point: FloatArray,
    time: FloatArray,
    fr: Frames,
    offsets: FloatArray,
) -> FloatArray:
    r"""Seeds ``(p, s, 3)`` for new directions from known track points.

    The muon passed ``point`` (p, 3) at ``time`` (p,). For a new direction :math:`\hat d'` the
    same point is moved along :math:`\hat d'` into the transverse plane through the event
    centre, its time shifted by the distance over :math:`c`; the hexagonal ``offsets`` (s, 2)
    [m] are added around it. A NaN ``time`` asks :func:`fit_nuisance` for a fresh time seed.
    """
    rel = point - prep.centre
    along = np.einsum("pi,pi->p", rel, fr.travel)
    a = np.einsum("pi,pi->p", rel, fr.e1)
    b = np.einsum("pi,pi->p", rel, fr.e2)
    n_off = len(offsets)
    seeds = np.empty((len(a), n_off, 3))
    seeds[..., 0] = a[:, None] + offsets[None, :, 0]
    seeds[..., 1] = b[:, None] + offsets[None, :, 1]
    seeds[..., 2] = (time - along / C_VACUUM)[:, None]
    return seeds


def hexagon_offsets(n_seeds: int, radius_m: float) -> FloatArray:
    """The centre and ``n_seeds - 1`` points on a circle of ``radius_m`` (shape (n, 2))."""
    angles = 2 * np.pi * np.arange(max(n_seeds - 1, 0)) / max(n_seeds - 1, 1)
    ring = radius_m * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    return np.asarray(np.concatenate([np.zeros((1, 2)), ring])[:n_seeds])
