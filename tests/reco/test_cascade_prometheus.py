"""The cascade fit on 10 Prometheus cascades: a simulation independent of nufair's light model
(real ice tables, photon propagation), read from the copied per-DOM photon summary.

Errors are recorded in ``cascade_prometheus_errors.json`` under pytest's ``tmp_path`` and
printed. Prometheus' ``initial_state_zenith/azimuth`` are the polar angles of the particle's
momentum (``prometheus/particle/particle.py``: ``theta = arccos(direction[2])``): the direction
of motion, whose opposite is the source direction nufair reports.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from reco.cascade.fit import fit_direction, fit_vertex_time
from reco.cascade.model import prepare_cascade
from reco.coords import direction_vector
from reco.detector import PROMETHEUS_Z_OFFSET_M, Detector
from reco.event import Event

DATA = Path(__file__).resolve().parent.parent / "data" / "reco" / "prometheus"


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _event(hits: list[dict[str, str]], detector: Detector, idx: int) -> Event:
    """One pulse per DOM at its first photon, charge = photons; DOMs matched by position."""
    pos = np.array([[float(r["sensor_pos_x"]), float(r["sensor_pos_y"]),
                     float(r["sensor_pos_z"]) + PROMETHEUS_Z_OFFSET_M] for r in hits])
    dist = np.linalg.norm(detector.positions[None, :, :] - pos[:, None, :], axis=-1)
    assert dist.min(axis=1).max() < 0.5  # every DOM is one of ours
    return Event("Prometheus", 0, idx, datetime(2024, 1, 1, tzinfo=UTC),
                 dist.argmin(axis=1).astype(np.int64),
                 np.array([float(r["t_first"]) for r in hits]),
                 np.array([float(r["n_photons"]) for r in hits]))


def test_prometheus_cascades_vertex_and_direction(detector: Detector, tmp_path: Path) -> None:
    hits = _rows("dom_hits.csv")
    records = []
    for tr in _rows("truth.csv"):
        mine = [r for r in hits if r["event_idx"] == tr["event_idx"]]
        if len(mine) < 3:  # event 1 lit one DOM: nothing to fit
            continue
        event = _event(mine, detector, int(tr["event_idx"]))
        prep = prepare_cascade(event, detector)
        fit = fit_direction(prep, fit_vertex_time(prep))
        true_v = np.array([float(tr["initial_state_x"]), float(tr["initial_state_y"]),
                           float(tr["initial_state_z"]) + PROMETHEUS_Z_OFFSET_M])
        motion = direction_vector(float(tr["initial_state_zenith"]),
                                  float(tr["initial_state_azimuth"]))
        cos = float(np.clip(-direction_vector(fit.zenith, fit.azimuth) @ motion, -1.0, 1.0))
        records.append({
            "event": int(tr["event_idx"]), "n_dom": len(mine),
            "energy_tev": float(tr["initial_state_energy"]) / 1e3,
            "seed_vertex_error_m": float(np.linalg.norm(prep.seed[:3] - true_v)),
            "vertex_error_m": float(np.linalg.norm(fit.vertex - true_v)),
            "direction_error_deg": float(np.degrees(np.arccos(cos))),
            # The same with Prometheus' angles misread as the source direction.
            "direction_error_if_source_deg": float(np.degrees(np.arccos(-cos))),
        })
    (tmp_path / "cascade_prometheus_errors.json").write_text(json.dumps(records, indent=1))
    for r in records:
        print(r)
    assert len(records) == 9
    vertex = np.array([r["vertex_error_m"] for r in records])
    seed = np.array([r["seed_vertex_error_m"] for r in records])
    direction = np.array([r["direction_error_deg"] for r in records])
    # Measured (2026-12-03, robust time term): vertex median 15 m, direction median 34°
    # (9 events, 17–1059 DOMs; the old scan (11d2ea7): 60 m, 110° (70° misread)). Bounds
    # against the independent truth, that the old fit fails:
    assert np.median(vertex) < 30.0
    assert np.median(vertex) < 0.5 * np.median(seed)
    assert np.median(direction) < 50.0
