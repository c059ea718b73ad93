"""Independent answers for the VO tests: which published regions hold which positions,
computed with astropy (circles) and numpy (RA/Dec boxes), never with the code under test."""

from __future__ import annotations

import numpy as np
from astropy.coordinates import SkyCoord

from catalog.notices.parsed import NoticeRecord


def inside_regions(recs: list[NoticeRecord], ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """(n_records, n_points) truth table of the 90 % regions, computed independently."""
    out = np.zeros((len(recs), len(ra)), dtype=bool)
    points = SkyCoord(ra, dec, unit="deg")
    for i, rec in enumerate(recs):
        region = rec.region(0.9)
        assert region is not None and rec.ra is not None and rec.dec is not None
        if region.is_circle:
            sep = SkyCoord(rec.ra, rec.dec, unit="deg").separation(points).deg
            out[i] = sep <= region.radius_deg
            continue
        plus, minus = region.ra_plus, region.ra_minus
        assert plus is not None and minus is not None
        assert region.dec_plus is not None and region.dec_minus is not None
        in_dec = (dec >= rec.dec - region.dec_minus) & (dec <= rec.dec + region.dec_plus)
        offset = np.mod(ra - rec.ra + 180.0, 360.0) - 180.0  # signed RA difference
        out[i] = in_dec & ((plus + minus >= 360.0) | ((offset >= -minus) & (offset <= plus)))
    return out
