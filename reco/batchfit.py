"""The unit of work of a scan: one Dask task fits a batch of pixels at one resolution.

:func:`fit_batch` runs on a worker. It receives the prepared event (scattered once to every
worker) and a :class:`BatchSpec` (pixels, their detector directions and the seeds of each),
and returns a :class:`BatchResult` with the best nuisance fit of every pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reco.estimators import track_energy
from reco.likelihood import FloatArray, PreparedEvent, fit_nuisance, frames, project, track_point


@dataclass(frozen=True)
class BatchSpec:
    """One task's work: pixels at one resolution, their directions and seeds."""

    nside: int
    pixel: np.ndarray
    zenith: FloatArray
    azimuth: FloatArray
    seeds: FloatArray
    n_iter: int
    tolerance: float = 0.0
    prune_margin: float = float("inf")


@dataclass(frozen=True)
class BatchResult:
    """One task's output (arrays aligned with :attr:`BatchSpec.pixel`)."""

    nside: int
    pixel: np.ndarray
    llh: FloatArray
    point: FloatArray
    time: FloatArray
    energy: FloatArray
    evaluations: int


CHUNK_ELEMENTS = 250_000
"""Pixel × pulse elements projected together inside a task: the three projection arrays of a
chunk then take ~6 MB, whatever the batch size."""


def fit_batch(prep: PreparedEvent, spec: BatchSpec) -> BatchResult:
    """Fit the nuisance parameters of every pixel of ``spec`` (runs on a worker)."""
    n = len(spec.pixel)
    llh = np.full(n, np.nan)
    point = np.full((n, 3), np.nan)
    tim = np.full(n, np.nan)
    energy = np.full(n, np.nan)
    evaluations = 0
    chunk = max(1, CHUNK_ELEMENTS // max(prep.n_pulses, 1))
    for lo in range(0, n, chunk):
        sl = slice(lo, lo + chunk)
        fr = frames(spec.zenith[sl], spec.azimuth[sl])
        fit = fit_nuisance(
            prep,
            project(prep, fr),
            spec.seeds[sl],
            n_iter=spec.n_iter,
            tol=spec.tolerance,
            margin=spec.prune_margin,
        )
        evaluations += fit.evaluations
        llh[sl] = fit.nll
        pt, tt = track_point(prep, fr, fit.theta)
        point[sl] = pt
        tim[sl] = tt
        ok = np.isfinite(fit.nll)
        en = np.full(len(fit.nll), np.nan)
        if ok.any():
            sub = frames(spec.zenith[sl][ok], spec.azimuth[sl][ok])
            en[ok] = track_energy(prep, sub, fit.theta[ok])
        energy[sl] = en
    return BatchResult(spec.nside, spec.pixel, llh, point, tim, energy, evaluations)
