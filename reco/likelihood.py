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
Levenberg–Marquardt on the analytic gradient and Hessian (:func:`_terms`), the damping
scaled by :math:`|\mathrm{diag}\,H|` so that it stays positive where the Hessian is not. Each
seed of each pixel is iterated on its own, accepting a step where it lowers :math:`-\ln L` and
raising the damping where it does not; after a few iterations only the best seeds of a pixel
continue. The loop is compiled (:mod:`reco.kernel`): scipy.optimize minimises one problem at a
time through Python callbacks, and at thousands of 3-parameter problems per scan its per-call
overhead would dominate, which is why this small solver is written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reco import kernel
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


def constants(prep: PreparedEvent) -> FloatArray:
    """The likelihood's constants in the order :mod:`reco.kernel` takes them."""
    ice = prep.ice
    return np.array(
        [
            ice.jitter_ns,
            ice.beta,
            ice.shape_per_rho,
            RHO_DELAY,
            RHO_MIN_M,
            prep.log_signal,
            prep.log_noise,
        ]
    )


def _terms(
    prep: PreparedEvent, proj: Projection, theta: FloatArray, with_derivatives: bool
) -> tuple[FloatArray, FloatArray | None, FloatArray | None]:
    r""":math:`-\ln L` and, optionally, its gradient and Hessian in :math:`\theta`.

    ``theta`` has shape ``(p, s, 3)``; returns ``(p, s)``, ``(p, s, 3)`` and ``(p, s, 3, 3)``.

    Per pulse, :math:`\ln p = G(r, \rho)` with :math:`r = t - t_0 - l/c - R\rho`
    (:math:`R` = :data:`~reco.physics.RHO_DELAY`). With unit vectors
    :math:`(c_u, c_w) = (u - a, w - b)/\rho`, the chain rule gives

    .. math::

        \partial_{a} \ln p = -A c_u,\quad \partial_{b} \ln p = -A c_w,\quad
        \partial_{t_0} \ln p = -G_r, \qquad A = G_\rho - R G_r,

        \partial_{aa} = B c_u^2 + \tfrac{A}{\rho} c_w^2,\quad
        \partial_{ab} = (B - \tfrac{A}{\rho}) c_u c_w,\quad
        \partial_{bb} = B c_w^2 + \tfrac{A}{\rho} c_u^2,

        \partial_{a t_0} = -C c_u,\quad \partial_{b t_0} = -C c_w,\quad
        \partial_{t_0 t_0} = G_{rr},

    with :math:`B = R^2 G_{rr} - 2R G_{r\rho} + G_{\rho\rho}` and
    :math:`C = R G_{rr} - G_{r\rho}`. For the noise mixture :math:`G_x = w \ell_x` and
    :math:`G_{xy} = w \ell_{xy} + w(1 - w)\ell_x \ell_y`, :math:`\ell = \ln f`, :math:`w` the
    signal weight. The trigamma function in :math:`\ell_{kk}` is replaced by its asymptotic
    form :math:`1/k + 1/(2k^2)`: it only shapes the Newton step, never the value.
    :math:`\ln\Gamma(k)` and :math:`\psi(k)` come from the Stirling series after a shift by
    three (~1e-7; ``scipy.special`` would cost ~10× more in the innermost loop).

    The arithmetic is :func:`reco.kernel.evaluate`, one compiled pass over the pulses.
    """
    par = constants(prep)
    shape = theta.shape[:-1]
    nll = np.empty(shape)
    grad = np.zeros((*shape, 3))
    hess = np.zeros((*shape, 3, 3))
    for p, s in np.ndindex(*shape):
        a, b, t0 = (float(x) for x in theta[p, s])
        nll[p, s] = kernel.evaluate(
            proj.tl[p],
            proj.u[p],
            proj.w[p],
            prep.time,
            a,
            b,
            t0,
            par,
            grad[p, s],
            hess[p, s],
            with_derivatives,
        )
    if not with_derivatives:
        return nll, None, None
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
        Likelihood evaluations (value, gradient and Hessian over all pulses), summed over all
        seeds of all pixels — the cost accounting of the benchmarks.
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
    tol: float = 0.0,
    margin: float = np.inf,
) -> NuisanceFit:
    r"""Minimise :math:`-\ln L` over ``(a, b, t0)`` from several seeds per pixel.

    Parameters
    ----------
    prep, proj
        The event and its projection on ``p`` directions.
    seeds : ndarray (p, s, 3)
        Starting ``(a, b, t0)``; a NaN ``t0`` is replaced by :func:`seed_time`.
    n_iter : int
        Damped-Newton iterations at most.
    prune_after, keep : int
        After ``prune_after`` iterations only the ``keep`` best seeds of each pixel continue
        (seeds far from the minimum by then rarely overtake; this halves the cost at 7 seeds).
    margin : float
        ... and of those only the seeds whose :math:`-\ln L` is within ``margin`` of the best.
    tol : float
        A seed stops once its next lightly damped Newton step is shorter than ``tol`` in every
        coordinate (m, ns); 0 (the default) runs all ``n_iter`` iterations.
    """
    theta = np.array(seeds, dtype=float)
    missing = np.isnan(theta[..., 2])
    if missing.any():
        theta[..., 2] = np.where(missing, seed_time(prep, proj, theta[..., :2]), theta[..., 2])
    n_pix = theta.shape[0]
    out_nll = np.empty(n_pix)
    out_theta = np.empty((n_pix, 3))
    evaluations = kernel.fit_pixels(
        np.ascontiguousarray(proj.tl),
        np.ascontiguousarray(proj.u),
        np.ascontiguousarray(proj.w),
        prep.time,
        theta,
        constants(prep),
        n_iter,
        prune_after,
        keep,
        margin,
        tol,
        out_nll,
        out_theta,
    )
    return NuisanceFit(out_nll, out_theta, evaluations=int(evaluations))


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
