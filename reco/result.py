"""The documented result of a scan: per-nside pixel arrays, the best fit and the 2ΔLLH map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import healpy as hp
import numpy as np
from numpy.typing import NDArray

from reco.event import Truth

if TYPE_CHECKING:
    from reco.regions import Region

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class LevelResult:
    """All pixels fitted at one HEALPix resolution (RING ordering, equatorial coordinates).

    Attributes
    ----------
    nside : int
    pixel : ndarray of int
        RING pixel indices, sorted.
    llh : ndarray
        :math:`-\\ln L` minimised over the nuisance parameters (NaN: the fit failed).
    x, y, z, t : ndarray
        Fitted track point [m] and the time the muon passes it [ns].
    energy : ndarray
        Energy proxy [TeV] of each pixel's track.
    """

    nside: int
    pixel: IntArray
    llh: FloatArray
    x: FloatArray
    y: FloatArray
    z: FloatArray
    t: FloatArray
    energy: FloatArray

    def to_json(self) -> dict[str, Any]:
        """Plain lists (NaN → None) for the result JSON."""

        def clean(a: FloatArray, nd: int) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), nd) for v in a]

        return {
            "nside": self.nside,
            "pixel": [int(p) for p in self.pixel],
            "llh": clean(self.llh, 4),
            "x": clean(self.x, 2),
            "y": clean(self.y, 2),
            "z": clean(self.z, 2),
            "t": clean(self.t, 2),
            "energy": clean(self.energy, 2),
        }


@dataclass(frozen=True)
class BestFit:
    """The best pixel over all resolutions.

    Attributes
    ----------
    nside, pixel : int
    ra, dec : float
        Pixel centre, ICRS [rad].
    zenith, azimuth : float
        Detector frame [rad] at the event time.
    llh : float
    vertex : tuple of float
        Track point [m].
    time : float
        [ns].
    energy : float
        Energy proxy [TeV].
    """

    nside: int
    pixel: int
    ra: float
    dec: float
    zenith: float
    azimuth: float
    llh: float
    vertex: tuple[float, float, float]
    time: float
    energy: float


@dataclass
class ScanStats:
    """Cost accounting of a scan.

    Attributes
    ----------
    elapsed_s : float
        Wall time of the whole scan [s], first guess included.
    first_guess_s : float
    pixel_fits : int
        Number of pixel fits.
    seed_fits : int
        Number of (pixel, seed) minimisations.
    likelihood_evaluations : int
        Evaluations of the full likelihood (with derivatives) over all pulses, summed over seeds.
    tasks : int
        Dask tasks submitted.
    n_pulses : int
    """

    elapsed_s: float = 0.0
    first_guess_s: float = 0.0
    pixel_fits: int = 0
    seed_fits: int = 0
    likelihood_evaluations: int = 0
    tasks: int = 0
    n_pulses: int = 0


@dataclass
class ScanResult:
    """Everything a scan produced.

    Attributes
    ----------
    run_id, event_id : int
    event_time_mjd : float
    levels : list of LevelResult
        One per resolution, in the order scanned (a resolution scanned again after the best
        moved is merged into its level).
    best : BestFit
    first_guess : dict
        The first-guess direction (degrees) and time it took.
    stats : ScanStats
    config : dict
        The :class:`~reco.scan_config.ScanConfig` used, as plain values.
    regions : list of Region
        Filled by :func:`reco.regions.compute_regions` (``run_scan`` does it).
    truth : Truth or None
    """

    run_id: int
    event_id: int
    event_time_mjd: float
    levels: list[LevelResult]
    best: BestFit
    first_guess: dict[str, float]
    stats: ScanStats
    config: dict[str, Any]
    regions: list[Region] = field(default_factory=list)
    truth: Truth | None = None

    @property
    def finest_nside(self) -> int:
        """Largest nside scanned."""
        return max(level.nside for level in self.levels)

    def delta_llh_map(self, nside: int | None = None) -> FloatArray:
        """The 2ΔLLH map, RING ordering, at ``nside`` (default: the finest scanned).

        Each pixel takes the value of the finest scanned pixel that contains it:
        :math:`2\\,(\\mathrm{llh} - \\mathrm{llh}_\\mathrm{best})`. Failed (NaN) pixels and
        pixels finer than anything scanned inherit their coarser ancestor; a pixel with no
        finite ancestor is NaN. A map pixel that contains the centre of a fitted coarser pixel
        takes the lower of the two values (the centre is a direction whose llh is known).
        """
        nside = nside or self.finest_nside
        order = hp.nside2order(nside)
        out = np.full(hp.nside2npix(nside), np.nan)
        for level in sorted(self.levels, key=lambda lv: lv.nside):
            if level.nside > nside:
                continue
            ok = np.isfinite(level.llh)
            nest = hp.ring2nest(level.nside, level.pixel[ok])
            shift = 2 * (order - hp.nside2order(level.nside))
            span = 1 << shift
            idx = (nest[:, None] << shift) + np.arange(span)[None, :]
            out[idx.ravel()] = np.repeat(2.0 * (level.llh[ok] - self.best.llh), span)
        # Every fitted direction is also a point sample: the map pixel containing a coarser
        # pixel's centre keeps the lower of the two values, so the best fit always lies in the
        # regions even when it was found at a coarser level than the map.
        for level in self.levels:
            if level.nside >= nside:
                continue
            ok = np.isfinite(level.llh)
            theta, phi = hp.pix2ang(level.nside, level.pixel[ok])
            at = hp.ang2pix(nside, theta, phi, nest=True)
            np.fmin.at(out, at, 2.0 * (level.llh[ok] - self.best.llh))
        return np.asarray(out[hp.ring2nest(nside, np.arange(len(out)))])

    def multiorder(self) -> tuple[IntArray, FloatArray]:
        """The 2ΔLLH map as multi-order cells tiling the sphere: ``(uniq, value)``.

        Each point of the sky takes the value of the finest scanned pixel containing it (as in
        :meth:`delta_llh_map`); cells are then merged four-into-one wherever all four share
        the same source pixel, so every scanned pixel appears at its own resolution and the
        pieces of coarse pixels partly covered by finer ones at the coarsest order that fits.
        ``uniq = 4 nside² + nested index``; failed pixels carry NaN.
        """
        top = hp.nside2order(self.finest_nside)
        coarsest = min(hp.nside2order(level.nside) for level in self.levels)
        src = np.full(hp.nside2npix(self.finest_nside), -1, dtype=np.int64)
        values: list[float] = []
        for level in sorted(self.levels, key=lambda lv: lv.nside):
            ok = np.isfinite(level.llh)
            nest = hp.ring2nest(level.nside, level.pixel[ok])
            shift = 2 * (top - hp.nside2order(level.nside))
            idx = (nest[:, None] << shift) + np.arange(1 << shift)[None, :]
            ids = len(values) + np.arange(len(nest))
            src[idx.ravel()] = np.repeat(ids, 1 << shift)
            values.extend(2.0 * (level.llh[ok] - self.best.llh))
        vals = np.append(np.asarray(values, dtype=float), np.nan)  # id -1 → NaN
        # Point samples, as in delta_llh_map: the finest cell holding a coarser pixel's centre
        # takes that pixel's value when lower.
        first = 0
        for level in sorted(self.levels, key=lambda lv: lv.nside):
            ok = np.isfinite(level.llh)
            n_ok = int(ok.sum())
            if level.nside < self.finest_nside:
                theta, phi = hp.pix2ang(level.nside, level.pixel[ok])
                at = hp.ang2pix(self.finest_nside, theta, phi, nest=True)
                ids = first + np.arange(n_ok)
                lower = vals[ids] < np.where(src[at] >= 0, vals[src[at]], np.inf)
                src[at[lower]] = ids[lower]
            first += n_ok
        mixed = -2
        uniq: list[IntArray] = []
        out: list[FloatArray] = []
        cur = src
        for order in range(top, coarsest, -1):
            groups = cur.reshape(-1, 4)
            same = (groups == groups[:, :1]).all(axis=1) & (groups[:, 0] != mixed)
            emit = ~same[:, None] & (groups != mixed)
            cells = np.flatnonzero(emit.ravel())
            uniq.append(4 * 4**order + cells)
            out.append(vals[cur[cells]])
            cur = np.where(same, groups[:, 0], mixed)
        cells = np.flatnonzero(cur != mixed)
        uniq.append(4 * 4**coarsest + cells)
        out.append(vals[cur[cells]])
        return np.concatenate(uniq).astype(np.int64), np.concatenate(out)

    def to_json(self) -> dict[str, Any]:
        """JSON form of the result (angles in degrees)."""
        b = self.best
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "event_id": self.event_id,
            "event_time_mjd": self.event_time_mjd,
            "best_fit": {
                "nside": b.nside,
                "pixel": b.pixel,
                "ra_deg": float(np.degrees(b.ra)),
                "dec_deg": float(np.degrees(b.dec)),
                "zenith_deg": float(np.degrees(b.zenith)),
                "azimuth_deg": float(np.degrees(b.azimuth)),
                "llh": b.llh,
                "vertex_m": list(b.vertex),
                "time_ns": b.time,
                "energy_tev": b.energy,
            },
            "first_guess": self.first_guess,
            "regions": [r.to_json() for r in self.regions],
            "stats": vars(self.stats),
            "config": self.config,
            "levels": [lv.to_json() for lv in self.levels],
        }
        if self.truth is not None:
            out["truth"] = self.truth.to_json()
        return out
