"""The share of a revision's probability that lies inside a subscriber's footprint.

A scan's update has a probability map (multi-order HEALPix, ``UNIQ`` and ``PROBDENSITY``
per steradian, as in its FITS skymap); an initial notice's circle has none, and then the
envelope gives the area fraction instead (:mod:`catalog.subscriptions.envelope`). mocpy
integrates the density over a MOC (cells partly inside count by their area share).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from mocpy import MOC
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class ProbabilityMap:
    """A multi-order probability map: NUNIQ cells and their density [sr⁻¹]."""

    uniq: NDArray[np.int64]
    probdensity: NDArray[np.float64]

    def table(self) -> Table:
        """The map as mocpy reads it (columns ``UNIQ``, ``PROBDENSITY``)."""
        return Table({"UNIQ": self.uniq, "PROBDENSITY": self.probdensity})


def ranges_moc(ranges: Iterable[tuple[int, int]]) -> MOC:
    """A MOC from order-29 ``[lo, hi)`` ranges."""
    arr = np.array(list(ranges), dtype=np.uint64).reshape(-1, 2)
    return MOC.from_depth29_ranges(29, arr)


def probability_fractions(pmap: ProbabilityMap, region: MOC,
                          footprints: dict[int, MOC]) -> dict[int, float]:
    """For each footprint: P(region ∩ footprint) / P(region); 0 when the region holds no
    probability."""
    table = pmap.table()
    total = float(region.probability_in_multiordermap(table))
    out = {}
    for key, fp in footprints.items():
        inside = region.intersection(fp)
        p = 0.0 if inside.empty() else float(inside.probability_in_multiordermap(table))
        out[key] = min(p / total, 1.0) if total > 0 else 0.0
    return out
