"""What a scan is asked to do and what it tells its caller: the scan's configuration, the
progress reports it sends while it runs, and how it is cancelled.

These types are shared by the driver (:mod:`reco.refinement`), the entry point
(:func:`reco.scan.run_scan`) and its callers (the ingest scan runner, the CLI, the benchmarks).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

Hypothesis = Literal["auto", "track", "cascade"]


class ScanCancelled(RuntimeError):
    """Raised by :func:`reco.scan.run_scan` when its ``cancel`` event is set; no partial result."""


class CancelFlag(Protocol):
    """Anything with ``is_set()``, e.g. :class:`threading.Event`."""

    def is_set(self) -> bool:
        """Whether the scan should stop now."""
        ...


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
    region_refine : float
        A later level also refines every pixel of the previous level whose 2ΔLLH is at most
        ``region_refine`` × the calibrated 90 % threshold of the best fit's energy
        (:func:`reco.regions.thresholds_for`), and their neighbours: the region the scan will
        report is then made of finest-level pixels even where it is wider than ``n_refine``
        pixels. 0: off.
    max_refine : int
        At most this many pixels refined per level by ``region_refine`` (the lowest; bounds the
        work of a very wide region, whose rest keeps the coarser level's values).
    max_rerefine : int
        How many times a level may grow when its best pixel moves.
    polish_rounds, polish_margin, polish_cap : int, float, float
        Neighbour polishing of the finest level (see
        :meth:`reco.refinement.Refinement.polish`): rounds, the llh margin above the
        neighbours' median that marks a spike, and the 2ΔLLH below which pixels are polished.
    batch_size : int
        Pixels per Dask task (at most; a round of few pixels is split into at least two tasks
        per worker).
    retries : int
        Dask retries of a task whose worker died.
    hypothesis : {"auto", "track", "cascade"}
        The light hypothesis: an infinite muon track, or a point-like shower
        (:mod:`reco.cascade`); ``"auto"`` chooses by the event's topology
        (:func:`reco.cascade.choose_hypothesis`). A cascade scan has its own levels and ignores
        the track's parameters above.
    """

    nsides: tuple[tuple[int, int], ...] = ((8, 0), (64, 12), (512, 16))
    n_seeds: int = 7
    n_seeds_refine: int = 3
    seed_radius_m: float = 40.0
    n_iter: int = 12
    n_iter_refine: int = 12
    tolerance: float = 1e-3
    prune_margin: float = 25.0
    extension: float = 1.5
    region_refine: float = 1.2
    max_refine: int = 96
    max_rerefine: int = 4
    batch_size: int = 48
    retries: int = 3
    polish_rounds: int = 3
    polish_margin: float = 2.0
    polish_cap: float = 1000.0
    hypothesis: Hypothesis = "auto"

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
