"""What a running scan reports as its progress: states that only move forward.

reco's estimate of the total number of pixel fits grows while the refinement levels find
their pixels, so its fraction could reach 1 (with an ETA of a few seconds) long before the
end, and a re-claimed scan starts again from 0. A partial snapshot therefore never reports
more than :data:`PARTIAL_MAX` (only the final result is complete), never less than the
scan's previous snapshot, and no ETA once the estimated total is reached.
"""

from __future__ import annotations

import math

from catalog.storage.scans import Snapshot
from reco.scan import ScanProgress

#: The highest fraction a partial snapshot reports: only the final snapshot says 1.
PARTIAL_MAX = 0.99


def partial_snapshot(p: ScanProgress, floor: float) -> Snapshot:
    """The partial snapshot of reco's report ``p``, not below ``floor`` (the fraction the
    scan reported before).

    >>> p = ScanProgress(1.0, 3157, 3157, 40.0, 0.0, None)
    >>> s = partial_snapshot(p, 0.5)
    >>> s.fraction, s.eta_s
    (0.99, None)
    >>> partial_snapshot(ScanProgress(0.2, 20, 100, 10.0, 8.0, None), 0.5).fraction
    0.5
    """
    fraction = max(floor, min(p.fraction, PARTIAL_MAX))
    eta = p.eta_s if p.pixels_done < p.pixels_total and math.isfinite(p.eta_s) else None
    return Snapshot(fraction, p.pixels_done, p.pixels_total, p.rate, eta, p.best_so_far)
