"""The multi-level refinement of a scan: which pixels to fit at each resolution, and from
which seeds.

The steps are described in :mod:`reco.scan`; :meth:`Refinement.run` carries them out level by
level, running each round of fits through :class:`reco.skyfits.SkyFits`.
"""

from __future__ import annotations

import healpy as hp
import numpy as np

from reco.coords import equatorial_to_local
from reco.likelihood import FloatArray, frames, hexagon_offsets, transfer_seeds
from reco.regions import WILKS_THRESHOLDS, calibrated_thresholds, thresholds_for
from reco.skyfits import Level, SkyFits


def pixel_size(nside: int) -> float:
    """Typical angular size [rad] of a pixel at ``nside``: :math:`\\sqrt{4\\pi / N_{pix}}`."""
    return float(np.sqrt(4 * np.pi / hp.nside2npix(nside)))


def children(nside_from: int, pixels: np.ndarray, nside_to: int) -> np.ndarray:
    """RING indices at ``nside_to`` of every sub-pixel of the RING ``pixels`` at ``nside_from``.

    In NESTED order the sub-pixels of pixel ``p`` are the ``4**k`` consecutive indices from
    ``p << 2k``, with ``k`` the difference of the orders.
    """
    nest = hp.ring2nest(nside_from, pixels)
    shift = 2 * (hp.nside2order(nside_to) - hp.nside2order(nside_from))
    idx = (nest[:, None] << shift) + np.arange(1 << shift)[None, :]
    return np.asarray(hp.nest2ring(nside_to, idx.ravel()))


class Refinement:
    """Drives one scan from the all-sky level to the finest, through ``fits``."""

    def __init__(self, fits: SkyFits) -> None:
        self.fits = fits
        self.config = fits.config
        self.prep = fits.prep
        self.levels = fits.levels

    def run(self, fg_point: FloatArray, fg_time: float) -> None:
        """Fit every level of :attr:`ScanConfig.nsides`, starting from the first-guess track.

        ``fg_time`` is not used: the all-sky seeds leave their times (NaN) to
        :func:`reco.likelihood.fit_nuisance`, which seeds them afresh.
        """
        cfg = self.config
        for li, (nside, n_refine) in enumerate(cfg.nsides):
            self.levels.append(Level(nside))
            if li == 0:
                self.all_sky(fg_point)
            else:
                self.refine(li, self._candidates(li, n_refine))
            self.follow_best(li)
            if li == len(cfg.nsides) - 1:
                self.polish(li)

    def all_sky(self, fg_point: FloatArray) -> None:
        """Fit every pixel of the first level, seeded around the first-guess track."""
        cfg = self.config
        nside = self.levels[0].nside
        pixels = np.arange(hp.nside2npix(nside))
        self.fits.actual[0] = len(pixels)
        self.fits.planned = self._estimates()
        fr = frames(*self._local(nside, pixels))
        seeds = transfer_seeds(
            self.prep,
            np.repeat(fg_point[None, :], len(pixels), axis=0),
            np.full(len(pixels), np.nan),
            fr,
            hexagon_offsets(cfg.n_seeds, cfg.seed_radius_m),
        )
        self.fits.fit(0, pixels, seeds, cfg.n_iter)

    def _candidates(self, li: int, n_refine: int) -> np.ndarray:
        """Pixels of level ``li`` to fit first: the children of the ``n_refine`` best finite
        pixels of the level before, and the disc around the global best."""
        prev = self.levels[li - 1]
        nside = self.levels[li].nside
        finite = sorted((v.llh, p) for p, v in prev.fits.items() if np.isfinite(v.llh))
        best = finite[:n_refine]
        cand = [children(prev.nside, np.array([p for _, p in best]), nside)]
        region = self._region(prev.nside, finite)
        if len(region):
            cand.append(children(prev.nside, region, nside))
        cand.append(self._disc(nside, self.config.extension * pixel_size(prev.nside)))
        return np.concatenate(cand)

    def _region(self, nside: int, finite: list[tuple[float, int]]) -> np.ndarray:
        """Pixels of the previous level (``nside``; ``finite`` its sorted ``(llh, pixel)``)
        within ``region_refine`` × the calibrated 90 % threshold of the best fit, and their
        neighbours (a region's edge runs through coarse pixels whose centres lie outside it);
        the ``max_refine`` best of them."""
        cfg = self.config
        if cfg.region_refine <= 0 or not finite:
            return np.zeros(0, dtype=np.int64)
        li, pix, best_llh = self.fits.best()
        calib = calibrated_thresholds()
        chosen = None if calib is None else thresholds_for(calib, self.levels[li].fits[pix].energy)
        t90 = chosen.by_containment[0.9] if chosen is not None else WILKS_THRESHOLDS[0.9]
        limit = best_llh + 0.5 * cfg.region_refine * t90
        inside = np.array([p for llh, p in finite if llh <= limit], dtype=np.int64)
        if len(inside) == 0:
            return inside
        grown = np.union1d(inside, hp.get_all_neighbours(nside, inside).ravel())
        llh = {p: v for v, p in finite}
        ranked = sorted((llh[int(p)], int(p)) for p in grown if int(p) in llh)
        return np.array([p for _, p in ranked[: cfg.max_refine]], dtype=np.int64)

    def follow_best(self, li: int) -> None:
        """Grow level ``li`` while its best moves (at most ``max_rerefine`` times): refit the
        children of a coarser pixel that still beats them, or fit the missing pixels of the
        disc around the best."""
        nside = self.levels[li].nside
        for _ in range(self.config.max_rerefine):
            if self.fits.best()[0] < li:
                # A coarser pixel beats all its fitted children: refit them from its track.
                self.refit_children(li)
                continue
            disc = self._disc(nside, self.config.extension * pixel_size(nside))
            missing = np.setdiff1d(disc, np.fromiter(self.levels[li].fits, dtype=np.int64))
            if len(missing) == 0:
                break
            self.refine(li, missing)

    def seeds_from(
        self, nside: int, pixels: np.ndarray, parents: list[tuple[FloatArray, float]]
    ) -> FloatArray:
        """Refinement seeds: parent's fit + offsets, plus the global best's fit."""
        fr = frames(*self._local(nside, pixels))
        p_point = np.array([p[0] for p in parents])
        p_time = np.array([p[1] for p in parents])
        n_par = max(self.config.n_seeds_refine - 1, 1)
        parts = [transfer_seeds(self.prep, p_point, p_time, fr, hexagon_offsets(n_par, 10.0))]
        if self.config.n_seeds_refine > 1:
            g_point, g_time = self.fits.best_fit()
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
        global_seed = self.fits.best_fit()
        for i in range(len(pixels)):
            failed, seed = self._parent_seed(li, theta[i], phi[i])
            if failed:
                continue  # failed (NaN) pixels are never refined
            keep.append(i)
            parents.append(seed if seed is not None else global_seed)
        if not keep:
            return
        pixels = pixels[keep]
        self.fits.planned.pop(li, None)
        self.fits.actual[li] = self.fits.actual.get(li, 0) + len(pixels)
        seeds = self.seeds_from(level.nside, pixels, parents)
        self.fits.fit(li, pixels, seeds, self.config.n_iter_refine)

    def _parent_seed(
        self, li: int, theta: float, phi: float
    ) -> tuple[bool, tuple[FloatArray, float] | None]:
        """``(failed, seed)`` from the finest fitted coarser pixel containing the direction:
        its track when its fit is finite, ``failed`` when it is NaN, no seed when no coarser
        level has fitted it."""
        for coarse in reversed(self.levels[:li]):
            parent = int(hp.ang2pix(coarse.nside, theta, phi))
            if parent in coarse.fits:
                llh, point, t, _ = coarse.fits[parent]
                if np.isfinite(llh):
                    return False, (point, t)
                return True, None
        return False, None

    def refit_children(self, li: int) -> None:
        """Refit the level-``li`` pixels inside the (coarser) global best pixel, seeded from it.

        A finer pixel's fit should never be worse than its parent's best, since the parent's
        direction lies within a fraction of a fine pixel; when it is, the children's fits stopped
        in poorer local minima. Keeps the better of the old and new fit of each child.
        """
        bl, bpix, _ = self.fits.best()
        coarse = self.levels[bl]
        inside = children(coarse.nside, np.array([bpix]), self.levels[li].nside)
        _, point, t, _ = coarse.fits[bpix]
        seeds = self.seeds_from(self.levels[li].nside, inside, [(point, t)] * len(inside))
        self.fits.actual[li] = self.fits.actual.get(li, 0) + len(inside)
        self.fits.fit(li, inside, seeds, self.config.n_iter_refine)

    def polish(self, li: int) -> None:
        """Refit "spikes" — pixels whose llh exceeds the median of their neighbours' by more than
        ``polish_margin`` — seeded from their best neighbour's track.

        The nuisance fit of a pixel can stop in a poorer local minimum than its neighbours';
        the profile likelihood is continuous on the sky, so a pixel standing well above its
        neighbours is a sign of that. Only the finest level is polished, and only pixels with
        2ΔLLH below ``polish_cap`` (the part of the map that shapes the regions), for at most
        ``polish_rounds`` rounds.
        """
        level = self.levels[li]
        for _ in range(self.config.polish_rounds):
            spikes = self._spikes(level)
            if spikes is None:
                return
            targets, sources = spikes
            parents = [(level.fits[int(q)].point, level.fits[int(q)].time) for q in sources]
            seeds = self.seeds_from(level.nside, targets, parents)
            self.fits.actual[li] = self.fits.actual.get(li, 0) + len(targets)
            self.fits.fit(li, targets, seeds, self.config.n_iter_refine)

    def _spikes(self, level: Level) -> tuple[np.ndarray, np.ndarray] | None:
        """The spikes of ``level`` and, for each, its best fitted neighbour; None if none."""
        cfg = self.config
        best = self.fits.best()[2]
        pix = np.sort(np.fromiter(level.fits, dtype=np.int64))
        llh = np.array([level.fits[int(p)].llh for p in pix])
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
            return None
        return pix[bad], nbrs[j[bad], np.flatnonzero(bad)]

    def _estimates(self) -> dict[int, int]:
        """Expected pixel fits of the refinement levels (children of the refined pixels plus
        the disc; overlaps make it an upper estimate until the level starts)."""
        out = {}
        nsides = self.config.nsides
        for j in range(1, len(nsides)):
            ratio = (nsides[j][0] // nsides[j - 1][0]) ** 2
            disc = np.pi * (self.config.extension * pixel_size(nsides[j - 1][0])) ** 2
            out[j] = nsides[j][1] * ratio + int(disc / pixel_size(nsides[j][0]) ** 2)
        return out

    def _disc(self, nside: int, radius: float) -> np.ndarray:
        """RING pixels at ``nside`` whose centres lie within ``radius`` of the global best."""
        li, pix, _ = self.fits.best()
        vec = hp.pix2vec(self.levels[li].nside, pix)
        return np.asarray(hp.query_disc(nside, vec, radius, inclusive=False))

    def _local(self, nside: int, pixels: np.ndarray) -> tuple[FloatArray, FloatArray]:
        """Detector ``(zenith, azimuth)`` of the centres of ``pixels`` at the event time."""
        theta, phi = hp.pix2ang(nside, pixels)
        zen, azi = equatorial_to_local(phi, 0.5 * np.pi - theta, self.fits.time)
        return zen, azi
