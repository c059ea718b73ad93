"""Simulated raw events for the ingest tests (deterministic, cached per process)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np

from reco.detector import Detector, load_ic86
from reco.simulate import SimulatedEvent, simulate_event


@cache
def detector() -> Detector:
    return load_ic86()


@cache
def simulated(energy_tev: float = 300.0, seed: int = 7, run_id: int = 140001,
              event_id: int = 42, kind: str = "throughgoing") -> SimulatedEvent:
    return simulate_event(np.random.default_rng(seed), detector(), kind,  # type: ignore[arg-type]
                          energy_tev, run_id=run_id, event_id=event_id,
                          time=datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC))


def raw_body(energy_tev: float = 300.0, seed: int = 7, run_id: int = 140001,
             event_id: int = 42, kind: str = "throughgoing") -> dict[str, Any]:
    """The JSON body of a simulated raw event (without its simulation truth)."""
    body = simulated(energy_tev, seed, run_id, event_id, kind).event.to_json()
    body.pop("truth", None)
    return body
