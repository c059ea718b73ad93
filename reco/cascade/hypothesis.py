"""Which light hypothesis a scan uses: a Cascade alert or a cascade-like event is scanned as a
point-like shower, everything else as a muon track."""

from __future__ import annotations

import dataclasses
from typing import Literal

from reco.detector import Detector
from reco.estimators import is_track_like
from reco.event import Event
from reco.firstguess import clean_hits
from reco.scan_config import ScanConfig

Choice = Literal["track", "cascade"]


def choose_hypothesis(event: Event, detector: Detector, stream: str | None = None) -> Choice:
    """``"cascade"`` for the Cascade stream, ``"track"`` for Gold and Bronze; for any other
    (or unknown) stream the topology decides: hits not elongated
    (:func:`reco.estimators.is_track_like` on the noise-cleaned hits, as the selection does)
    mean a cascade.

    Examples
    --------
    >>> from reco.detector import load_ic86
    >>> from reco.event import Event
    >>> import numpy as np, datetime
    >>> ev = Event("IceCube", 1, 1, datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    ...            np.array([0, 1]), np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    >>> choose_hypothesis(ev, load_ic86(), stream="cascade")
    'cascade'
    """
    if stream == "cascade":
        return "cascade"
    if stream in ("gold", "bronze"):
        return "track"
    pos, _ = clean_hits(event, detector)
    return "track" if is_track_like(pos) else "cascade"


def resolve_hypothesis(config: ScanConfig, event: Event, detector: Detector,
                       stream: str | None = None) -> ScanConfig:
    """``config`` with an ``"auto"`` hypothesis replaced by :func:`choose_hypothesis`'s."""
    if config.hypothesis != "auto":
        return config
    return dataclasses.replace(config, hypothesis=choose_hypothesis(event, detector, stream))
