"""The HEALPix scan of the cascade hypothesis.

1. Vertex fit (:func:`reco.cascade.fit.fit_vertex_time`): the robust time term alone, an
   isotropic point source, from several starts.
2. First direction (:func:`reco.cascade.fit.fit_direction`): at that vertex, the best of the
   nside-8 directions and the charge centroid's, refined from the best three: the scan's
   first guess.
3. Levels of :data:`CASCADE_NSIDES`: the first fits every pixel; a later one the children of
   the ``n_refine`` best pixels of the previous level and of every pixel within 1.5 pixel
   sizes of the best. Per pixel the direction is fixed and the vertex and time are those of
   step 1 (:data:`PROFILE_ITERATIONS` 0: profiling them with the charge term pulled the vertex
   towards the bright side on ice the model does not describe), the energy from the total
   charge.

A cascade's regions are tens to hundreds of square degrees, so the scan stops at nside 64
(0.92° pixels). It runs in the calling process (a few seconds), not on Dask.

The calibrated regions take the thresholds of ``reco/cascade/calibration.json``
(:func:`cascade_calibration`): per energy-proxy bin, the quantiles of this scan's
:math:`2\\Delta\\mathrm{LLH}` at the truth over showers of the perturbed-ice simulation
(``bench/systematics.py --cascades``), so the regions name that simulation (FITS ``SYSTINCL``,
notices' ``systematic_included``).
"""

from __future__ import annotations

import json
import threading
import time as _time
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import healpy as hp
import numpy as np
from astropy.time import Time

from reco.cascade.fit import (
    fit_direction,
    fit_vertex_time,
    profile_directions,
    travel_vectors,
)
from reco.cascade.model import prepare_cascade
from reco.coords import equatorial_to_local, local_to_equatorial
from reco.detector import Detector
from reco.event import Event
from reco.result import BestFit, LevelResult, ScanResult, ScanStats
from reco.scan_config import CancelFlag, ScanCancelled, ScanConfig, ScanProgress

CASCADE_NSIDES: tuple[tuple[int, int], ...] = ((4, 0), (16, 12), (64, 12))
"""``(nside, n_refine)`` of the cascade scan's levels."""
PROFILE_ITERATIONS = 0
"""Levenberg–Marquardt iterations of each pixel's vertex/time profile (0: the vertex and time
stay at the time-only fit, :func:`reco.cascade.fit.fit_vertex_time`)."""


@cache
def cascade_calibration() -> dict[str, Any] | None:
    """The cascade regions' calibrated thresholds and their provenance, if recorded: per
    energy-proxy bin (``{"systematics": ..., "cascade": {"bins": ...}}``, written by
    ``bench/systematics.py --write-calibration``) or flat (``{"thresholds": ...}``)."""
    path = resources.files("reco.cascade").joinpath("calibration.json")
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def _pixels(nside: int, parents: np.ndarray | None, prev: LevelResult | None,
            n_refine: int) -> np.ndarray:
    """RING pixels of the next level (see the module docstring)."""
    if parents is None or prev is None:
        return np.arange(hp.nside2npix(nside))
    ok = np.isfinite(prev.llh)
    order = np.argsort(np.where(ok, prev.llh, np.inf))[: max(n_refine, 1)]
    chosen = set(prev.pixel[order].tolist())
    best = int(prev.pixel[order[0]])
    disc = hp.query_disc(prev.nside, hp.pix2vec(prev.nside, best),
                         1.5 * hp.nside2resol(prev.nside), inclusive=True)
    chosen.update(int(p) for p in disc)
    nest = hp.ring2nest(prev.nside, np.array(sorted(chosen)))
    shift = 2 * (hp.nside2order(nside) - hp.nside2order(prev.nside))
    children = (nest[:, None] << shift) + np.arange(1 << shift)[None, :]
    return np.sort(hp.nest2ring(nside, children.ravel()))


def _starts(nside: int, pix: np.ndarray, prev: LevelResult | None,
            anchor: np.ndarray) -> np.ndarray:
    """Profile starts (p, 4): a child pixel starts from its parent's fit where that is
    finite, else (and at the first level) from the full fit ``anchor``."""
    starts = np.repeat(anchor[None, :], len(pix), axis=0)
    if prev is None:
        return starts
    shift = 2 * (hp.nside2order(nside) - hp.nside2order(prev.nside))
    parent = hp.nest2ring(prev.nside, hp.ring2nest(nside, pix) >> shift)
    at = np.clip(np.searchsorted(prev.pixel, parent), 0, len(prev.pixel) - 1)
    fitted = np.stack([prev.x, prev.y, prev.z, prev.t], axis=1)[at]
    ok = (prev.pixel[at] == parent) & np.isfinite(fitted).all(axis=1)
    starts[ok] = fitted[ok]
    return starts


def run_cascade_scan(
    event: Event,
    detector: Detector,
    config: ScanConfig | None = None,
    progress: Callable[[ScanProgress], None] | None = None,
    cancel: CancelFlag | threading.Event | None = None,
) -> ScanResult:
    """Scan the sky for the direction of ``event`` with the cascade hypothesis.

    The result has the track scan's form (:class:`reco.result.ScanResult`); its levels' ``x,
    y, z, t`` are the shower's vertex and time, ``energy`` the energy from the total charge,
    and ``config`` says ``"hypothesis": "cascade"``.
    """
    from reco.regions import WILKS_THRESHOLDS, compute_regions

    start = _time.perf_counter()
    prep = prepare_cascade(event, detector)
    vertex = fit_vertex_time(prep)
    full = fit_direction(prep, vertex)
    first_guess_s = _time.perf_counter() - start
    anchor = np.array([*full.vertex, full.time])
    levels: list[LevelResult] = []
    prev: LevelResult | None = None
    done = 0
    for nside, n_refine in CASCADE_NSIDES:
        if cancel is not None and cancel.is_set():
            raise ScanCancelled("cancelled between levels")
        pix = _pixels(nside, None if prev is None else prev.pixel, prev, n_refine)
        theta, phi = hp.pix2ang(nside, pix)
        zen, azi = equatorial_to_local(phi, 0.5 * np.pi - theta, event.time)
        starts = _starts(nside, pix, prev, anchor)
        nll, params, energy = profile_directions(
            prep, travel_vectors(zen, azi), starts, n_iter=PROFILE_ITERATIONS)
        prev = LevelResult(nside, pix.astype(np.int64), nll, params[:, 0], params[:, 1],
                           params[:, 2], params[:, 3], energy)
        levels.append(prev)
        done += len(pix)
        if progress is not None:
            best_i = int(np.nanargmin(nll))
            progress(ScanProgress(min(done / (done + 512.0), 0.99), done, done + 512,
                                  done / max(_time.perf_counter() - start, 1e-9), 0.0,
                                  (float(np.degrees(phi[best_i])),
                                   float(90.0 - np.degrees(theta[best_i])),
                                   float(nll[best_i]))))
    result = _result(event, levels, config, start, first_guess_s)
    ra, dec = local_to_equatorial(full.zenith, full.azimuth, event.time)
    result.first_guess = {
        "ra_deg": float(np.degrees(ra)), "dec_deg": float(np.degrees(dec)),
        "zenith_deg": float(np.degrees(full.zenith)),
        "azimuth_deg": float(np.degrees(full.azimuth)), "llh": full.llh,
        "elapsed_s": first_guess_s,
    }
    calib = cascade_calibration()
    if calib is not None:
        result.regions = compute_regions(result, calibration=calib, hypothesis="cascade")
    else:  # never the track's calibration: Wilks regions only
        result.regions = [r for r in compute_regions(result, calibration={"thresholds": {
            "0.5": WILKS_THRESHOLDS[0.5], "0.9": WILKS_THRESHOLDS[0.9]}})
            if r.method == "wilks"]
    result.stats.elapsed_s = _time.perf_counter() - start
    return result


def _result(event: Event, levels: list[LevelResult], config: ScanConfig | None,
            start: float, first_guess_s: float) -> ScanResult:
    """The :class:`ScanResult` of the fitted levels (best: the lowest finite pixel)."""
    best_level, best_i, best_llh = levels[0], 0, np.inf
    for level in levels:
        i = int(np.nanargmin(level.llh))
        if level.llh[i] < best_llh:
            best_level, best_i, best_llh = level, i, float(level.llh[i])
    theta, phi = hp.pix2ang(best_level.nside, int(best_level.pixel[best_i]))
    dec = 0.5 * np.pi - float(theta)
    zen, azi = equatorial_to_local(float(phi), dec, event.time)
    best = BestFit(
        nside=best_level.nside, pixel=int(best_level.pixel[best_i]), ra=float(phi), dec=dec,
        zenith=float(zen), azimuth=float(azi), llh=best_llh,
        vertex=(float(best_level.x[best_i]), float(best_level.y[best_i]),
                float(best_level.z[best_i])),
        time=float(best_level.t[best_i]), energy=float(best_level.energy[best_i]))
    n_pix = sum(len(lv.pixel) for lv in levels)
    stats = ScanStats(elapsed_s=_time.perf_counter() - start, first_guess_s=first_guess_s,
                      pixel_fits=n_pix, seed_fits=n_pix, n_pulses=event.n_pulses)
    cfg = (config or ScanConfig(hypothesis="cascade")).to_json()
    cfg.update(hypothesis="cascade", nsides=[list(p) for p in CASCADE_NSIDES])
    return ScanResult(
        run_id=event.run_id, event_id=event.event_id,
        event_time_mjd=float(Time(event.time).mjd), levels=levels, best=best,
        first_guess={}, stats=stats, config=cfg, truth=event.truth)
