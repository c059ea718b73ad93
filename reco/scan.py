"""Dask-parallel HEALPix likelihood scan.

Algorithm
---------
1. Prepare the event (:func:`reco.likelihood.prepare`) and fit a first guess.
2. For each ``(nside, n_refine)`` of :attr:`ScanConfig.nsides` (RING pixels, equatorial):

   * the first level fits every pixel, seeded around the first-guess track;
   * a later level fits the children of the ``n_refine`` best finite pixels of the previous
     level, plus every pixel within ``extension`` × (previous pixel size) of the global best,
     each seeded from its parent's fit (and the global best's track); children of failed
     (NaN) parents are never fitted;
   * after a level, if the best pixel's own neighbourhood (a disc of ``extension`` × this
     pixel size) is not all fitted yet — the best moved — those pixels are fitted too, up to
     ``max_rerefine`` times; if a coarser pixel still beats every child fitted inside it, the
     children are refitted from its track;
   * the finest level is "polished": a pixel standing more than ``polish_margin`` above the
     median of its neighbours (a nuisance fit caught in a poorer local minimum) is refitted
     from its best neighbour's track, for ``polish_rounds`` rounds.

3. Per pixel the direction is fixed and :math:`-\\ln L` is minimised over the track's
   transverse position and time from several seeds (:func:`reco.likelihood.fit_nuisance`).

Parallelism: one Dask task per batch of ``batch_size`` pixels; the prepared event is scattered
once to every worker; each task has a deterministic key (event, level, round, batch), so a
resubmitted duplicate is the same task; lost workers are retried ``retries`` times.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time as _time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import healpy as hp
import numpy as np
from astropy.time import Time

from reco.coords import equatorial_to_local
from reco.detector import Detector
from reco.estimators import track_energy
from reco.event import Event
from reco.firstguess import first_guess
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
from reco.result import BestFit, LevelResult, ScanResult, ScanStats


class ScanCancelled(RuntimeError):
    """Raised by :func:`run_scan` when its ``cancel`` event is set; no partial result."""


class CancelFlag(Protocol):
    """Anything with ``is_set()``, e.g. :class:`threading.Event`."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class ScanProgress:
    """What the progress callback receives after every finished task.

    Attributes
    ----------
    fraction : float
        Estimated fraction of all pixel fits done, 0–1, never decreasing (later levels' sizes
        are estimated until they start; it reaches 1 with the last report).
    pixels_done : int
    pixels_total : int
        Current estimate of the total number of pixel fits.
    rate : float
        Pixel fits per second so far.
    eta_s : float
        Estimated seconds to completion (``pixels left / rate``).
    best_so_far : tuple of (float, float, float) or None
        ``(ra_deg, dec_deg, llh)`` of the best pixel so far.
    """

    fraction: float
    pixels_done: int
    pixels_total: int
    rate: float
    eta_s: float
    best_so_far: tuple[float, float, float] | None


@dataclass(frozen=True)
class ScanConfig:
    """Parameters of a scan.

    Attributes
    ----------
    nsides : tuple of (nside, n_refine)
        Resolution progression; ``n_refine`` is how many of the previous level's best pixels
        are refined (ignored for the first level).
    n_seeds : int
        Vertex seeds per pixel at the first level (a hexagon of ``seed_radius_m`` around the
        first-guess track, plus its centre).
    n_seeds_refine : int
        Seeds per pixel at later levels: the parent's fit, the global best's fit and
        ``n_seeds_refine - 2`` points around the parent's.
    seed_radius_m : float
    n_iter, n_iter_refine : int
        Newton iterations per seed at the first and later levels, at most.
    tolerance : float
        A seed stops iterating once its next lightly damped Newton step is shorter than this
        in every coordinate (m, ns); 0 runs every iteration.
    prune_margin : float
        After four iterations a pixel's seeds continue only when their :math:`-\\ln L` is
        within this of the pixel's best seed (at most two of them).
    extension : float
        Radius of the refinement disc around the best fit, in units of the previous level's
        pixel size (:math:`\\sqrt{4\\pi / N_\\mathrm{pix}}`).
    max_rerefine : int
        How many times a level may grow when its best pixel moves.
    polish_rounds, polish_margin, polish_cap : int, float, float
        Neighbour polishing of the finest level (see ``_Runner.polish``): rounds, the llh
        margin above the neighbours' median that marks a spike, and the 2ΔLLH below which
        pixels are polished.
    batch_size : int
        Pixels per Dask task (at most; a round of few pixels is split into at least two tasks
        per worker).
    retries : int
        Dask retries of a task whose worker died.
    """

    nsides: tuple[tuple[int, int], ...] = ((8, 0), (64, 12), (512, 24))
    n_seeds: int = 7
    n_seeds_refine: int = 3
    seed_radius_m: float = 40.0
    n_iter: int = 12
    n_iter_refine: int = 12
    tolerance: float = 1e-3
    prune_margin: float = 25.0
    extension: float = 1.5
    max_rerefine: int = 4
    batch_size: int = 48
    retries: int = 3
    polish_rounds: int = 3
    polish_margin: float = 2.0
    polish_cap: float = 1000.0

    def to_json(self) -> dict[str, Any]:
        """Plain values."""
        out = asdict(self)
        out["nsides"] = [list(p) for p in self.nsides]
        return out

    @staticmethod
    def parse_nsides(text: str) -> tuple[tuple[int, int], ...]:
        """Parse ``"8:0,64:12,512:24"``.

        Examples
        --------
        >>> ScanConfig.parse_nsides("8:0,64:12")
        ((8, 0), (64, 12))
        """
        pairs: list[tuple[int, int]] = []
        for item in text.split(","):
            head, _, tail = item.partition(":")
            pairs.append((int(head), int(tail or 0)))
        for nside, _ in pairs:
            if nside < 1 or nside & (nside - 1):
                raise ValueError(f"nside must be a power of two, got {nside}")
        return tuple(pairs)


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


@dataclass
class _Level:
    nside: int
    fits: dict[int, tuple[float, FloatArray, float, float]] = field(default_factory=dict)


def _pixel_size(nside: int) -> float:
    return float(np.sqrt(4 * np.pi / hp.nside2npix(nside)))


def _children(nside_from: int, pixels: np.ndarray, nside_to: int) -> np.ndarray:
    nest = hp.ring2nest(nside_from, pixels)
    shift = 2 * (hp.nside2order(nside_to) - hp.nside2order(nside_from))
    idx = (nest[:, None] << shift) + np.arange(1 << shift)[None, :]
    return np.asarray(hp.nest2ring(nside_to, idx.ravel()))


class _Runner:
    """State of one scan (driver side)."""

    def __init__(
        self,
        event: Event,
        prep: PreparedEvent,
        config: ScanConfig,
        client: Any,
        progress: Callable[[ScanProgress], None] | None,
        cancel: CancelFlag | None,
    ) -> None:
        self.event = event
        self.prep = prep
        self.config = config
        self.client = client
        self.progress = progress
        self.cancel = cancel
        self.levels: list[_Level] = []
        self.stats = ScanStats(n_pulses=event.n_pulses)
        self.start = _time.perf_counter()
        self.done = 0
        self.fraction = 0.0
        self.planned: dict[int, int] = {}  # estimated pixel fits of levels not started
        self.actual: dict[int, int] = {}  # pixel fits submitted per started level
        self.round = 0
        digest = hashlib.sha1(
            f"{event.observatory}/{event.run_id}/{event.event_id}/{event.n_pulses}/"
            f"{config}".encode()
        ).hexdigest()[:12]
        self.token = f"reco-scan-{digest}-{os.getpid()}-{id(self)}"
        # hash=False: a fresh key per scan, so a previous scan of the same event releasing its
        # copy can never take this one with it.
        self.prep_future = client.scatter(prep, broadcast=True, hash=False)
        self.n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        self.time = Time(event.time, scale="utc")
        self.global_best: tuple[int, int, float] | None = None  # (level, pixel, llh)

    # -- bookkeeping -------------------------------------------------------------------
    def _best_fit(self) -> tuple[FloatArray, float]:
        assert self.global_best is not None
        li, pix, _ = self.global_best
        _, point, t, _ = self.levels[li].fits[pix]
        return point, t

    def _report(self) -> None:
        if self.progress is None:
            return
        elapsed = max(_time.perf_counter() - self.start, 1e-9)
        rate = self.done / elapsed
        total = max(sum(self.actual.values()) + sum(self.planned.values()), self.done)
        best = None
        if self.global_best is not None:
            li, pix, llh = self.global_best
            theta, phi = hp.pix2ang(self.levels[li].nside, pix)
            best = (float(np.degrees(phi)), float(90.0 - np.degrees(theta)), float(llh))
        left = total - self.done
        # The total is an estimate that can shrink or grow; never let the fraction go back.
        self.fraction = max(self.fraction, self.done / total if total else 0.0)
        self.progress(
            ScanProgress(
                fraction=self.fraction,
                pixels_done=self.done,
                pixels_total=total,
                rate=rate,
                eta_s=left / rate if rate > 0 else float("inf"),
                best_so_far=best,
            )
        )

    # -- work --------------------------------------------------------------------------
    def fit(self, li: int, pixels: np.ndarray, seeds: FloatArray, n_iter: int) -> None:
        """Fit ``pixels`` of level ``li`` on the cluster and store the results."""
        from distributed import as_completed

        level = self.levels[li]
        nside = level.nside
        if len(pixels) == 0:
            return
        theta, phi = hp.pix2ang(nside, pixels)
        zen, azi = equatorial_to_local(phi, 0.5 * np.pi - theta, self.time)
        self.round += 1
        futures = []
        # Small rounds (re-refinement, polishing) are cut finer so that every worker gets work.
        bs = max(1, min(self.config.batch_size, -(-len(pixels) // (2 * self.n_workers))))
        for bi, lo in enumerate(range(0, len(pixels), bs)):
            sl = slice(lo, lo + bs)
            spec = BatchSpec(
                nside,
                pixels[sl],
                zen[sl],
                azi[sl],
                seeds[sl],
                n_iter,
                self.config.tolerance,
                self.config.prune_margin,
            )
            key = f"{self.token}-n{nside}-r{self.round}-b{bi}"
            futures.append(
                self.client.submit(
                    fit_batch, self.prep_future, spec, key=key, retries=self.config.retries
                )
            )
        self.stats.tasks += len(futures)
        try:
            for fut in as_completed(futures):
                res: BatchResult = fut.result()
                for i, p in enumerate(res.pixel):
                    previous = level.fits.get(int(p))
                    # A refit only replaces an earlier fit of the same pixel if it is better,
                    # so a re-run or duplicate batch can never make the map worse.
                    if previous is not None and not res.llh[i] < previous[0]:
                        continue
                    llh = float(res.llh[i])
                    level.fits[int(p)] = (
                        llh,
                        res.point[i],
                        float(res.time[i]),
                        float(res.energy[i]),
                    )
                    # Stored values only ever go down, so the global best is kept by offering
                    # it every stored fit (no rescan of all levels per task).
                    if np.isfinite(llh) and (self.global_best is None or llh < self.global_best[2]):
                        self.global_best = (li, int(p), llh)
                self.done += len(res.pixel)
                self.stats.pixel_fits += len(res.pixel)
                self.stats.seed_fits += len(res.pixel) * seeds.shape[1]
                self.stats.likelihood_evaluations += res.evaluations
                self._report()
                if self.cancel is not None and self.cancel.is_set():
                    raise ScanCancelled("scan cancelled")
        except ScanCancelled:
            self.client.cancel(futures)
            raise
        finally:
            del futures

    def seeds_from(
        self, nside: int, pixels: np.ndarray, parents: list[tuple[FloatArray, float]]
    ) -> FloatArray:
        """Refinement seeds: parent's fit + offsets, plus the global best's fit."""
        theta, phi = hp.pix2ang(nside, pixels)
        zen, azi = equatorial_to_local(phi, 0.5 * np.pi - theta, self.time)
        fr = frames(zen, azi)
        p_point = np.array([p[0] for p in parents])
        p_time = np.array([p[1] for p in parents])
        n_par = max(self.config.n_seeds_refine - 1, 1)
        parts = [transfer_seeds(self.prep, p_point, p_time, fr, hexagon_offsets(n_par, 10.0))]
        if self.config.n_seeds_refine > 1:
            g_point, g_time = self._best_fit()
            parts.append(
                transfer_seeds(
                    self.prep,
                    np.repeat(g_point[None, :], len(pixels), axis=0),
                    np.full(len(pixels), g_time),
                    fr,
                    np.zeros((1, 2)),
                )
            )
        return np.concatenate(parts, axis=1)

    def refine(self, li: int, pixels: np.ndarray) -> None:
        """Fit the not-yet-fitted ``pixels`` of level ``li``, seeded from coarser fits."""
        level = self.levels[li]
        pixels = np.array(sorted(set(int(p) for p in pixels) - set(level.fits)), dtype=np.int64)
        if len(pixels) == 0:
            return
        theta, phi = hp.pix2ang(level.nside, pixels)
        keep = []
        parents: list[tuple[FloatArray, float]] = []
        g_point, g_time = self._best_fit()
        for i in range(len(pixels)):
            seed: tuple[FloatArray, float] | None = None
            failed = False
            for coarse in reversed(self.levels[:li]):
                parent = int(hp.ang2pix(coarse.nside, theta[i], phi[i]))
                if parent in coarse.fits:
                    llh, point, t, _ = coarse.fits[parent]
                    if np.isfinite(llh):
                        seed = (point, t)
                    else:
                        failed = True
                    break
            if failed:
                continue  # failed (NaN) pixels are never refined
            keep.append(i)
            parents.append(seed if seed is not None else (g_point, g_time))
        if not keep:
            return
        pixels = pixels[keep]
        self.planned.pop(li, None)
        self.actual[li] = self.actual.get(li, 0) + len(pixels)
        seeds = self.seeds_from(level.nside, pixels, parents)
        self.fit(li, pixels, seeds, self.config.n_iter_refine)

    def refit_children(self, li: int) -> None:
        """Refit the level-``li`` pixels inside the (coarser) global best pixel, seeded from it.

        A finer pixel's fit should never be worse than its parent's best, since the parent's
        direction lies within a fraction of a fine pixel; when it is, the children's fits stopped
        in poorer local minima. Keeps the better of the old and new fit of each child.
        """
        assert self.global_best is not None
        bl, bpix, _ = self.global_best
        coarse = self.levels[bl]
        children = _children(coarse.nside, np.array([bpix]), self.levels[li].nside)
        _, point, t, _ = coarse.fits[bpix]
        seeds = self.seeds_from(self.levels[li].nside, children, [(point, t)] * len(children))
        self.actual[li] = self.actual.get(li, 0) + len(children)
        self.fit(li, children, seeds, self.config.n_iter_refine)

    def polish(self, li: int) -> None:
        """Refit "spikes" — pixels whose llh exceeds the median of their neighbours' by more than
        ``polish_margin`` — seeded from their best neighbour's track.

        The nuisance fit of a pixel can stop in a poorer local minimum than its neighbours';
        the profile likelihood is continuous on the sky, so a pixel standing well above its
        neighbours is a sign of that. Only the finest level is polished, and only pixels with
        2ΔLLH below ``polish_cap`` (the part of the map that shapes the regions), for at most
        ``polish_rounds`` rounds.
        """
        cfg = self.config
        level = self.levels[li]
        for _ in range(cfg.polish_rounds):
            assert self.global_best is not None
            best = self.global_best[2]
            pix = np.sort(np.fromiter(level.fits, dtype=np.int64))
            llh = np.array([level.fits[int(p)][0] for p in pix])
            nbrs = hp.get_all_neighbours(level.nside, pix)  # (8, n), -1 where none
            at = np.clip(np.searchsorted(pix, nbrs), 0, len(pix) - 1)
            nb_llh = np.where(pix[at] == nbrs, llh[at], np.inf)
            nb_llh = np.where(np.isfinite(nb_llh), nb_llh, np.inf)
            j = np.argmin(nb_llh, axis=0)
            # A spike: higher than the median of its fitted neighbours by more than the margin
            # (a smooth surface differs from its neighbours' mean by ~δ²·curvature, well under
            # one unit at nside 512).
            masked = np.where(np.isfinite(nb_llh), nb_llh, np.nan)
            with np.errstate(all="ignore"):
                nb_median = np.nanmedian(masked, axis=0)
            bad = (
                np.isfinite(llh)
                & np.isfinite(nb_median)
                & (2.0 * (llh - best) < cfg.polish_cap)
                & (llh > nb_median + cfg.polish_margin)
            )
            if not bad.any():
                return
            targets = pix[bad]
            sources = nbrs[j[bad], np.flatnonzero(bad)]
            parents = [(level.fits[int(q)][1], level.fits[int(q)][2]) for q in sources]
            seeds = self.seeds_from(level.nside, targets, parents)
            self.actual[li] = self.actual.get(li, 0) + len(targets)
            self.fit(li, targets, seeds, self.config.n_iter_refine)

    def run(self, fg_point: FloatArray, fg_time: float) -> None:
        cfg = self.config
        for li, (nside, n_refine) in enumerate(cfg.nsides):
            self.levels.append(_Level(nside))
            if li == 0:
                pixels = np.arange(hp.nside2npix(nside))
                self.actual[0] = len(pixels)
                self.planned = self._estimates()
                theta, phi = hp.pix2ang(nside, pixels)
                zen, azi = equatorial_to_local(phi, 0.5 * np.pi - theta, self.time)
                fr = frames(zen, azi)
                seeds = transfer_seeds(
                    self.prep,
                    np.repeat(fg_point[None, :], len(pixels), axis=0),
                    np.full(len(pixels), np.nan),
                    fr,
                    hexagon_offsets(cfg.n_seeds, cfg.seed_radius_m),
                )
                self.fit(li, pixels, seeds, cfg.n_iter)
            else:
                prev = self.levels[li - 1]
                finite = sorted(((v[0], p) for p, v in prev.fits.items() if np.isfinite(v[0])))[
                    :n_refine
                ]
                cand = [_children(prev.nside, np.array([p for _, p in finite]), nside)]
                cand.append(self._disc(nside, cfg.extension * _pixel_size(prev.nside)))
                self.refine(li, np.concatenate(cand))
            for _ in range(cfg.max_rerefine):
                assert self.global_best is not None
                if self.global_best[0] < li:
                    # A coarser pixel beats all its fitted children: refit them from its track.
                    self.refit_children(li)
                    continue
                disc = self._disc(nside, cfg.extension * _pixel_size(nside))
                missing = np.setdiff1d(disc, np.fromiter(self.levels[li].fits, dtype=np.int64))
                if len(missing) == 0:
                    break
                self.refine(li, missing)
            if li == len(cfg.nsides) - 1:
                self.polish(li)

    def _estimates(self) -> dict[int, int]:
        """Expected pixel fits of the refinement levels (children of the refined pixels plus
        the disc; overlaps make it an upper estimate until the level starts)."""
        out = {}
        nsides = self.config.nsides
        for j in range(1, len(nsides)):
            ratio = (nsides[j][0] // nsides[j - 1][0]) ** 2
            disc = np.pi * (self.config.extension * _pixel_size(nsides[j - 1][0])) ** 2
            out[j] = nsides[j][1] * ratio + int(disc / _pixel_size(nsides[j][0]) ** 2)
        return out

    def _disc(self, nside: int, radius: float) -> np.ndarray:
        assert self.global_best is not None
        li, pix, _ = self.global_best
        vec = hp.pix2vec(self.levels[li].nside, pix)
        return np.asarray(hp.query_disc(nside, vec, radius, inclusive=False))

    def result(self) -> ScanResult:
        levels = []
        for level in self.levels:
            pix = np.array(sorted(level.fits), dtype=np.int64)
            vals = [level.fits[int(p)] for p in pix]
            llh = np.array([v[0] for v in vals])
            pts = np.array([v[1] for v in vals]).reshape(-1, 3)
            levels.append(
                LevelResult(
                    nside=level.nside,
                    pixel=pix,
                    llh=llh,
                    x=pts[:, 0],
                    y=pts[:, 1],
                    z=pts[:, 2],
                    t=np.array([v[2] for v in vals]),
                    energy=np.array([v[3] for v in vals]),
                )
            )
        assert self.global_best is not None
        best_level, best_pix, best_llh = self.global_best
        nside = self.levels[best_level].nside
        _, point, t, energy = self.levels[best_level].fits[best_pix]
        theta, phi = hp.pix2ang(nside, best_pix)
        ra, dec = float(phi), float(0.5 * np.pi - theta)
        zen, azi = equatorial_to_local(ra, dec, self.time)
        best = BestFit(
            nside=nside,
            pixel=int(best_pix),
            ra=ra,
            dec=dec,
            zenith=float(zen),
            azimuth=float(azi),
            llh=float(best_llh),
            vertex=(float(point[0]), float(point[1]), float(point[2])),
            time=float(t),
            energy=float(energy),
        )
        return ScanResult(
            run_id=self.event.run_id,
            event_id=self.event.event_id,
            event_time_mjd=float(self.time.mjd),
            levels=levels,
            best=best,
            first_guess={},
            stats=self.stats,
            config=self.config.to_json(),
            truth=self.event.truth,
        )


def single_threaded_blas() -> None:
    """Limit the BLAS library of this process to one thread (process-wide; through
    threadpoolctl, which knows OpenBLAS, MKL and BLIS).

    For scans whose Dask workers are threads of this process. OpenBLAS runs even the scan's
    small matrix products (pulses projected on a batch's directions) on its own threads,
    which then spin-wait for more work; with every core already taken by a worker thread in
    the compiled likelihood, those spinning threads take cycles from it. Measured on the 2-core
    machine: two concurrent batches ran at 1.32x the throughput of one with OpenBLAS's
    default threads and at 1.87x with one. Worker *processes* need no call: Dask's nanny
    starts them with ``OPENBLAS_NUM_THREADS=1`` already.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def local_client(n_workers: int | None = None, processes: bool = False) -> Any:
    """A ``dask.distributed.Client`` on a new ``LocalCluster`` with one single-threaded worker
    per core. Threads by default: the likelihood loop (:mod:`reco.kernel`) releases the GIL,
    so threads run in parallel without a process's start-up, memory and scatter costs;
    ``processes=True`` isolates the workers instead. With threads, this process's BLAS is
    limited to one thread (:func:`single_threaded_blas`)."""
    from distributed import Client, LocalCluster

    if not processes:
        single_threaded_blas()
    cluster = LocalCluster(
        n_workers=n_workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=processes,
        # dashboard_address=None still tries :8787 (and warns when it is taken); a free
        # loopback port is quiet.
        dashboard_address="127.0.0.1:0",
    )
    return Client(cluster)


def run_scan(
    event: Event,
    detector: Detector,
    config: ScanConfig | None = None,
    client: Any = None,
    progress: Callable[[ScanProgress], None] | None = None,
    cancel: CancelFlag | threading.Event | None = None,
) -> ScanResult:
    """Scan the sky for the direction of ``event``.

    Parameters
    ----------
    event, detector
        The event and the geometry its sensor indices refer to.
    config : ScanConfig, optional
    client : dask.distributed.Client, optional
        Where to run; a ``LocalCluster`` with one worker per core is started (and closed)
        when not given. A client connected to any scheduler (``tcp://…``) works the same.
    progress : callable, optional
        Called with a :class:`ScanProgress` after every finished task.
    cancel : object with ``is_set()``, optional
        Checked after every finished task; when set, pending tasks are cancelled and
        :class:`ScanCancelled` is raised.

    Returns
    -------
    ScanResult
        With 50 % / 90 % regions filled in (Wilks and calibrated thresholds).
    """
    from reco.regions import compute_regions

    config = config or ScanConfig()
    start = _time.perf_counter()
    prep = prepare(event, detector)
    fg = first_guess(event, detector, prep)
    own = client is None
    if own:
        client = local_client()
    try:
        runner = _Runner(event, prep, config, client, progress, cancel)
        runner.start = start
        runner.stats.first_guess_s = fg.elapsed
        runner.run(np.array(fg.vertex), fg.time)
        runner.planned.clear()
        runner._report()  # final report: fraction 1
        result = runner.result()
    finally:
        if own:
            cluster = client.cluster
            client.close()
            cluster.close()
    result.first_guess = {
        "ra_deg": float(np.degrees(fg.ra)),
        "dec_deg": float(np.degrees(fg.dec)),
        "zenith_deg": float(np.degrees(fg.zenith)),
        "azimuth_deg": float(np.degrees(fg.azimuth)),
        "llh": fg.llh,
        "elapsed_s": fg.elapsed,
    }
    result.regions = compute_regions(result)
    result.stats.elapsed_s = _time.perf_counter() - start
    return result
