"""The fits of a scan so far, and the rounds of Dask tasks that fill them (driver side).

:class:`SkyFits` keeps, for every resolution level, the best fit of each pixel fitted so far
and the global best across levels. :meth:`SkyFits.fit` runs one round: it cuts the pixels
into batches, submits one task per batch (:func:`reco.batchfit.fit_batch`) under a
deterministic key, stores the results as they come back, reports progress and honours the
cancel flag. Which pixels to fit, and from which seeds, is decided by
:mod:`reco.refinement`; :meth:`SkyFits.result` turns the fits into a :class:`ScanResult`.
"""

from __future__ import annotations

import hashlib
import os
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import healpy as hp
import numpy as np
from astropy.time import Time

from reco.batchfit import BatchResult, BatchSpec, fit_batch
from reco.cluster import as_completed
from reco.coords import equatorial_to_local
from reco.event import Event
from reco.likelihood import FloatArray, PreparedEvent
from reco.result import BestFit, LevelResult, ScanResult, ScanStats
from reco.scan_config import CancelFlag, ScanCancelled, ScanConfig, ScanProgress


class PixelFit(NamedTuple):
    """The stored fit of one pixel: its ``-ln L``, the track's closest point and time, and the
    energy proxy."""

    llh: float
    point: FloatArray
    time: float
    energy: float


@dataclass
class Level:
    """The fits of one resolution level, by RING pixel index."""

    nside: int
    fits: dict[int, PixelFit] = field(default_factory=dict)


class SkyFits:
    """State of one scan on the driver: the fits of every level, the global best, the
    statistics and the progress estimate; the Dask client and the scattered event."""

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
        self.levels: list[Level] = []
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
    def best(self) -> tuple[int, int, float]:
        """``(level, pixel, llh)`` of the best finite fit so far (there is one once the first
        round is stored)."""
        assert self.global_best is not None
        return self.global_best

    def best_fit(self) -> tuple[FloatArray, float]:
        """The track point and time of the best fit so far."""
        li, pix, _ = self.best()
        fit = self.levels[li].fits[pix]
        return fit.point, fit.time

    def report(self) -> None:
        """Send a :class:`ScanProgress` to the progress callback, if any."""
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
        if len(pixels) == 0:
            return
        futures = self._submit(li, pixels, seeds, n_iter)
        try:
            for fut in as_completed(self.client, futures):
                res: BatchResult = fut.result()
                self._store(li, res)
                self.done += len(res.pixel)
                self.stats.pixel_fits += len(res.pixel)
                self.stats.seed_fits += len(res.pixel) * seeds.shape[1]
                self.stats.likelihood_evaluations += res.evaluations
                self.report()
                if self.cancel is not None and self.cancel.is_set():
                    raise ScanCancelled("scan cancelled")
        except ScanCancelled:
            self.client.cancel(futures)
            raise
        finally:
            del futures

    def _submit(self, li: int, pixels: np.ndarray, seeds: FloatArray, n_iter: int) -> list[Any]:
        """One round: a task per batch of ``pixels``, each under a deterministic key."""
        nside = self.levels[li].nside
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
        return futures

    def _store(self, li: int, res: BatchResult) -> None:
        """Keep the better of the stored and the new fit of each pixel of ``res``."""
        level = self.levels[li]
        for i, p in enumerate(res.pixel):
            previous = level.fits.get(int(p))
            # A refit only replaces an earlier fit of the same pixel if it is better,
            # so a re-run or duplicate batch can never make the map worse.
            if previous is not None and not res.llh[i] < previous.llh:
                continue
            llh = float(res.llh[i])
            level.fits[int(p)] = PixelFit(
                llh, res.point[i], float(res.time[i]), float(res.energy[i])
            )
            # Stored values only ever go down, so the global best is kept by offering
            # it every stored fit (no rescan of all levels per task).
            if np.isfinite(llh) and (self.global_best is None or llh < self.global_best[2]):
                self.global_best = (li, int(p), llh)

    # -- result ------------------------------------------------------------------------
    def result(self) -> ScanResult:
        """The scan's result: every level's fits and the best fit (no regions yet)."""
        levels = [_level_result(level) for level in self.levels]
        best_level, best_pix, best_llh = self.best()
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


def _level_result(level: Level) -> LevelResult:
    """One level's fits as arrays sorted by pixel."""
    pix = np.array(sorted(level.fits), dtype=np.int64)
    vals = [level.fits[int(p)] for p in pix]
    llh = np.array([v.llh for v in vals])
    pts = np.array([v.point for v in vals]).reshape(-1, 3)
    return LevelResult(
        nside=level.nside,
        pixel=pix,
        llh=llh,
        x=pts[:, 0],
        y=pts[:, 1],
        z=pts[:, 2],
        t=np.array([v.time for v in vals]),
        energy=np.array([v.energy for v in vals]),
    )
