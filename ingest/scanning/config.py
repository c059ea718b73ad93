"""What a scan request's parameters mean for the reco config: light enough to import from
the settings (which check ``NUFAIR_SCAN_NSIDES`` at start-up) without the catalog or Dask.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from catalog.errors import InvalidInput
from reco.scan_config import ScanConfig

#: Largest nside a request may ask for (order 10; the default scan stops at 512).
MAX_NSIDE = 1024


def config_from(defaults: ScanConfig, nsides: str | None = None,
                seeds: int | None = None) -> ScanConfig:
    """``defaults`` with a request's ``nsides`` (``"8:0,64:12"``) and ``seeds``."""
    cfg = defaults
    if nsides is not None:
        try:
            parsed = ScanConfig.parse_nsides(nsides)
        except ValueError as exc:
            raise InvalidInput(f"nsides: {exc}", details={"parameter": "nsides"}) from None
        if any(n > MAX_NSIDE for n, _ in parsed) or list(parsed) != sorted(parsed):
            raise InvalidInput(f"nsides must increase and stay ≤ {MAX_NSIDE}",
                               details={"parameter": "nsides"})
        cfg = replace(cfg, nsides=parsed)
    if seeds is not None:
        cfg = replace(cfg, n_seeds=seeds)
    return cfg


def config_to_reco(stored: dict[str, Any]) -> ScanConfig:
    """The reco config of a stored scan (``nsides`` back to tuples)."""
    values = dict(stored)
    values["nsides"] = tuple((int(a), int(b)) for a, b in values["nsides"])
    known = ScanConfig.__dataclass_fields__
    return ScanConfig(**{k: v for k, v in values.items() if k in known})
