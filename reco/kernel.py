r"""Compiled inner loops of the likelihood: one pass over the pulses per evaluation, and the
damped-Newton fit of every seed of every pixel.

The model and the derivatives are documented in :mod:`reco.likelihood`; this module is their
implementation. It is compiled with Numba because the scan spends nearly all its time here:
the same arithmetic as NumPy array expressions needs ~40 temporaries per evaluation (each
pulse's value, gradient and Hessian terms), whose allocation and memory traffic cost more
than the arithmetic itself, and holds the GIL between operations. Compiled, one evaluation is
one loop over the pulses with ten running sums, no allocation, and the GIL released
(``nogil``), so Dask worker threads run in parallel.

All functions take plain arrays and floats (no Python objects) so that they compile once and
are cached on disk (``cache=True``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

# Constant-folding and fused multiply-add only: no assumptions about NaN or infinity, which
# mark failed fits.
_FASTMATH = {"contract", "arcp", "afn"}


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _lgamma_digamma(k: float) -> tuple[float, float]:
    r""":math:`\ln\Gamma(k)` and :math:`\psi(k)` for :math:`k > 0`, to ~1e-7: shift by three
    with :math:`\Gamma(k+1) = k\Gamma(k)`, then the Stirling series at :math:`x = k + 3`."""
    x = k + 3.0
    inv = 1.0 / x
    inv2 = inv * inv
    log_x = math.log(x)
    lg = (
        (x - 0.5) * log_x
        - x
        + _HALF_LOG_2PI
        + inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0))
        - math.log(k * (k + 1.0) * (k + 2.0))
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


@njit(nogil=True, cache=True, fastmath=_FASTMATH)
def evaluate(
    tl: np.ndarray,
    u: np.ndarray,
    w: np.ndarray,
    t: np.ndarray,
    a: float,
    b: float,
    t0: float,
    par: np.ndarray,
    grad: np.ndarray,
    hess: np.ndarray,
    with_derivatives: bool,
) -> float:
    r""":math:`-\ln L` at ``(a, b, t0)`` for one direction; fills ``grad`` (3) and ``hess``
    (3, 3) when ``with_derivatives``.

    ``tl``, ``u``, ``w`` are the pulses' projections on the direction's frame
    (:class:`reco.likelihood.Projection`), ``t`` their times, ``par`` the constants
    ``(sigma, beta, kappa, rho_delay, rho_min, log_signal, log_noise)``.
    """
    sigma = par[0]
    beta = par[1]
    kappa = par[2]
    rd = par[3]
    rho_min = par[4]
    log_signal = par[5]
    log_noise = par[6]
    log_beta = math.log(beta)
    inv_sigma = 1.0 / sigma
    nll = 0.0
    g0 = g1 = g2 = 0.0
    h00 = h11 = h01 = h02 = h12 = h22 = 0.0
    for i in range(t.shape[0]):
        du = u[i] - a
        dw = w[i] - b
        rho = math.sqrt(du * du + dw * dw)
        k = kappa * max(rho, rho_min)
        r = t[i] - t0 - tl[i] - rd * rho
        z = r * inv_sigma
        zc = max(z, -30.0)
        e = math.exp(-abs(zc))
        s = sigma * (max(zc, 0.0) + math.log1p(e))
        log_s = math.log(s)
        early = min(z, 0.0)
        lgam, digam = _lgamma_digamma(k)
        log_f = k * log_beta + (k - 1.0) * log_s - beta * s - lgam - 0.5 * early * early
        diff = log_signal + log_f - log_noise
        ed = math.exp(-abs(diff))
        nll -= max(diff, 0.0) + log_noise + math.log1p(ed)
        if not with_derivatives:
            continue
        wt = (1.0 if diff >= 0.0 else ed) / (1.0 + ed)  # d ln p / d ln f
        w1 = wt * (1.0 - wt)
        lam = (1.0 if zc >= 0.0 else e) / (1.0 + e)  # ds/dr = logistic(z)
        km1_s = (k - 1.0) / s
        l_r = (km1_s - beta) * lam - early * inv_sigma
        l_rr = (km1_s - beta) * lam * (1.0 - lam) * inv_sigma - km1_s / s * lam * lam
        if z < 0.0:
            l_rr -= inv_sigma * inv_sigma
        if rho > rho_min:
            l_rho = kappa * (log_beta + log_s - digam)
            l_rhorho = -kappa * kappa * (1.0 / k + 0.5 / (k * k))
            l_rrho = kappa * lam / s
        else:
            l_rho = l_rhorho = l_rrho = 0.0
        g_r = wt * l_r
        g_rr = wt * l_rr + w1 * l_r * l_r
        g_rrho = wt * l_rrho + w1 * l_r * l_rho
        g_rhorho = wt * l_rhorho + w1 * l_rho * l_rho
        big_a = wt * l_rho - rd * g_r
        big_b = rd * (rd * g_rr - 2.0 * g_rrho) + g_rhorho
        big_c = rd * g_rr - g_rrho
        inv = 1.0 / max(rho, 1e-9)
        cu = du * inv
        cw = dw * inv
        a_rho = big_a * inv
        g0 += big_a * cu
        g1 += big_a * cw
        g2 += g_r
        h00 -= big_b * cu * cu + a_rho * cw * cw
        h11 -= big_b * cw * cw + a_rho * cu * cu
        h01 -= (big_b - a_rho) * cu * cw
        h02 += big_c * cu
        h12 += big_c * cw
        h22 -= g_rr
    if with_derivatives:
        grad[0] = g0
        grad[1] = g1
        grad[2] = g2
        hess[0, 0] = h00
        hess[1, 1] = h11
        hess[2, 2] = h22
        hess[0, 1] = hess[1, 0] = h01
        hess[0, 2] = hess[2, 0] = h02
        hess[1, 2] = hess[2, 1] = h12
    return nll


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _pivot(m: np.ndarray, col: int) -> None:
    """Swap into row ``col`` of ``m`` the row (from ``col`` down) with the largest
    ``|m[row, col]|`` (partial pivoting)."""
    piv = col
    for row in range(col + 1, 3):
        if abs(m[row, col]) > abs(m[piv, col]):
            piv = row
    if piv != col:
        for j in range(4):
            m[col, j], m[piv, j] = m[piv, j], m[col, j]


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _solve_augmented(m: np.ndarray, step: np.ndarray) -> None:
    """Solve the 3 × 3 system of the augmented matrix ``m`` (3, 4) into ``step`` (Gaussian
    elimination with partial pivoting, then back substitution); ``m`` is overwritten."""
    for col in range(3):
        _pivot(m, col)
        for row in range(col + 1, 3):
            f = m[row, col] / m[col, col]
            for j in range(col, 4):
                m[row, j] -= f * m[col, j]
    for row in range(2, -1, -1):
        acc = m[row, 3]
        for j in range(row + 1, 3):
            acc -= m[row, j] * step[j]
        step[row] = acc / m[row, row]


@njit(nogil=True, cache=True, fastmath=_FASTMATH)
def _newton_step(grad: np.ndarray, hess: np.ndarray, damping: float, step: np.ndarray) -> None:
    """Solve ``(H + damping · |diag H|) step = -grad`` (3 × 3, Gaussian elimination with
    partial pivoting), then clip the step to 30 m / 100 ns."""
    m = np.empty((3, 4))
    for i in range(3):
        for j in range(3):
            m[i, j] = hess[i, j]
        m[i, i] += damping * (abs(hess[i, i]) + 1e-6)
        m[i, 3] = -grad[i]
    _solve_augmented(m, step)
    step[0] = min(max(step[0], -30.0), 30.0)
    step[1] = min(max(step[1], -30.0), 30.0)
    step[2] = min(max(step[2], -100.0), 100.0)


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _start_seeds(
    tlp: np.ndarray,
    up: np.ndarray,
    wp: np.ndarray,
    t: np.ndarray,
    seeds_p: np.ndarray,
    par: np.ndarray,
    theta: np.ndarray,
    nll: np.ndarray,
    grad: np.ndarray,
    hess: np.ndarray,
    damping: np.ndarray,
    alive: np.ndarray,
    active: np.ndarray,
) -> int:
    """Evaluate every seed ``seeds_p`` (s, 3) of one pixel and reset its fit state; returns
    the number of evaluations."""
    n_seed = seeds_p.shape[0]
    for s in range(n_seed):
        theta[s, 0] = seeds_p[s, 0]
        theta[s, 1] = seeds_p[s, 1]
        theta[s, 2] = seeds_p[s, 2]
        nll[s] = evaluate(
            tlp, up, wp, t, theta[s, 0], theta[s, 1], theta[s, 2], par, grad[s], hess[s], True
        )
        damping[s] = 1e-3
        alive[s] = True
        active[s] = True
    return int(n_seed)


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _prune(nll: np.ndarray, alive: np.ndarray, keep: int, margin: float) -> None:
    """Only the ``keep`` best seeds within ``margin`` of the best stay alive."""
    order = np.argsort(np.where(np.isfinite(nll), nll, np.inf))
    for j in range(1, nll.shape[0]):
        if j >= keep or not nll[order[j]] <= nll[order[0]] + margin:
            alive[order[j]] = False


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _iterate(
    tlp: np.ndarray,
    up: np.ndarray,
    wp: np.ndarray,
    t: np.ndarray,
    par: np.ndarray,
    tol: float,
    theta: np.ndarray,
    nll: np.ndarray,
    grad: np.ndarray,
    hess: np.ndarray,
    damping: np.ndarray,
    alive: np.ndarray,
    active: np.ndarray,
    cand: np.ndarray,
    step: np.ndarray,
    g_c: np.ndarray,
    h_c: np.ndarray,
) -> tuple[bool, int]:
    """One Levenberg–Marquardt iteration of every live, unconverged seed of one pixel: a
    damped Newton step, kept (damping down) if it lowers ``-ln L``, else refused (damping
    up). Returns whether any seed was still active, and the number of evaluations.

    ``cand``, ``step``, ``g_c`` (3) and ``h_c`` (3, 3) are scratch space: the candidate, the
    step, and the candidate's gradient and Hessian.
    """
    any_active = False
    evaluations = 0
    for s in range(theta.shape[0]):
        if not (alive[s] and active[s]):
            continue
        any_active = True
        _newton_step(grad[s], hess[s], damping[s], step)
        moved = max(abs(step[0]), abs(step[1]), abs(step[2]))
        if moved < tol and damping[s] <= 1e-2:
            # Converged: the (lightly damped) Newton step is below the tolerance.
            active[s] = False
            continue
        for j in range(3):
            cand[j] = theta[s, j] + step[j]
        nll_c = evaluate(tlp, up, wp, t, cand[0], cand[1], cand[2], par, g_c, h_c, True)
        evaluations += 1
        if nll_c < nll[s]:
            theta[s, 0] = cand[0]
            theta[s, 1] = cand[1]
            theta[s, 2] = cand[2]
            nll[s] = nll_c
            grad[s, :] = g_c
            hess[s, :, :] = h_c
            damping[s] = max(damping[s] * 0.2, 1e-6)
        else:
            damping[s] *= 10.0
    return any_active, evaluations


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _best_seed(nll: np.ndarray) -> int:
    """Index of the seed with the lowest finite ``-ln L``; -1 if none is finite."""
    best = -1
    best_nll = np.inf
    for s in range(nll.shape[0]):
        if math.isfinite(nll[s]) and nll[s] < best_nll:
            best = s
            best_nll = nll[s]
    return best


@njit(nogil=True, cache=True, fastmath=_FASTMATH)
def fit_pixels(
    tl: np.ndarray,
    u: np.ndarray,
    w: np.ndarray,
    t: np.ndarray,
    seeds: np.ndarray,
    par: np.ndarray,
    n_iter: int,
    prune_after: int,
    keep: int,
    margin: float,
    tol: float,
    out_nll: np.ndarray,
    out_theta: np.ndarray,
) -> int:
    """Levenberg–Marquardt fit of every seed of every pixel (see
    :func:`reco.likelihood.fit_nuisance`); writes the best seed's ``-ln L`` and ``(a, b, t0)``
    per pixel (NaN where none is finite) and returns the number of evaluations.

    ``tl``, ``u``, ``w`` have shape (p, n); ``seeds`` (p, s, 3). After ``prune_after``
    iterations only the ``keep`` best seeds whose :math:`-\\ln L` is within ``margin`` of the
    best continue. A seed stops early once its
    next Newton step, lightly damped (damping ≤ 0.01), is shorter than ``tol`` in every
    coordinate (metres and nanoseconds); ``tol = 0`` runs every iteration.
    """
    n_pix, n_seed = seeds.shape[0], seeds.shape[1]
    evaluations = 0
    theta = np.empty((n_seed, 3))
    nll = np.empty(n_seed)
    grad = np.empty((n_seed, 3))
    hess = np.empty((n_seed, 3, 3))
    damping = np.empty(n_seed)
    alive = np.empty(n_seed, dtype=np.bool_)
    active = np.empty(n_seed, dtype=np.bool_)
    cand = np.empty(3)
    step = np.empty(3)
    g_c = np.empty(3)
    h_c = np.empty((3, 3))
    for p in range(n_pix):
        tlp, up, wp = tl[p], u[p], w[p]
        evaluations += _start_seeds(
            tlp, up, wp, t, seeds[p], par, theta, nll, grad, hess, damping, alive, active
        )
        for it in range(n_iter):
            if it == prune_after:
                # Only the `keep` best seeds within `margin` of the best continue (seeds far
                # from the minimum by now rarely overtake).
                _prune(nll, alive, keep, margin)
            any_active, n_eval = _iterate(
                tlp,
                up,
                wp,
                t,
                par,
                tol,
                theta,
                nll,
                grad,
                hess,
                damping,
                alive,
                active,
                cand,
                step,
                g_c,
                h_c,
            )
            evaluations += n_eval
            if not any_active:
                break
        best = _best_seed(nll)
        if best < 0:
            out_nll[p] = np.nan
            out_theta[p, :] = np.nan
        else:
            out_nll[p] = nll[best]
            out_theta[p, :] = theta[best]
    return evaluations


def warm() -> None:
    """Compile (or load from the on-disk cache) every kernel, on a two-pulse problem, so that
    the first real fit does not pay the compilation (a few seconds the first time)."""
    pulses = np.zeros((1, 2))
    t = np.array([0.0, 10.0])
    par = np.array([3.0, 0.01, 0.04, 4.0, 1.0, -0.01, -20.0])
    grad, hess = np.empty(3), np.empty((3, 3))
    evaluate(pulses[0], pulses[0] + 5.0, pulses[0], t, 0.0, 0.0, 0.0, par, grad, hess, True)
    seeds, out_nll, out_theta = np.zeros((1, 2, 3)), np.empty(1), np.empty((1, 3))
    fit_pixels(pulses, pulses + 5.0, pulses, t, seeds, par, 2, 1, 1, 1.0, 1e-3, out_nll, out_theta)
