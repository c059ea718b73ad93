"""Cascade scan on light it was not made from: the Prometheus cascades and perturbed ice.

Scans (:func:`reco.cascade.run_cascade_scan`, default levels) the 9 lit Prometheus cascades
bundled in ``tests/data/reco/prometheus`` (photon propagation in tabulated ice, one pulse per
DOM at its first photon, charge = photons) and ``--per-bin`` showers per energy bin of
``bench.systematics.CASCADE_BINS`` drawn with
:func:`reco.simulate_perturbed.simulate_perturbed_cascade`
(layered ice, log-normal delays, ±10 % efficiencies, jitter, noise, afterpulses), and reports
the direction and vertex errors (median and 68 % quantile), per sample and energy bin, and
2ΔLLH at the true direction's pixel against the regions' thresholds.

Prometheus writes ``initial_state_zenith/azimuth`` as the polar angles of the particle's
momentum (``prometheus/particle/particle.py``: ``theta = arccos(direction[2])``), i.e. the
direction of motion; the source direction is the opposite. Both readings are reported.

    python -m bench.cascade_robustness --per-bin 50
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import healpy as hp
import numpy as np

from bench.common import write_result
from reco.cascade import run_cascade_scan
from reco.coords import direction_vector
from reco.detector import PROMETHEUS_Z_OFFSET_M, Detector, load_ic86
from reco.event import Event
from reco.simulate_perturbed import perturb, simulate_perturbed_cascade

PROMETHEUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "reco" / "prometheus"
CASCADE_BINS = (10.0, 30.0, 100.0, 300.0)
"""Energy bin edges [TeV] (as ``bench.systematics.CASCADE_BINS``)."""


def _rows(name: str) -> list[dict[str, str]]:
    with (PROMETHEUS / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def prometheus_events(detector: Detector) -> list[tuple[Event, np.ndarray, np.ndarray, float]]:
    """(event, travel direction (3,), true vertex (3,), energy [TeV]) of the lit cascades."""
    hits = _rows("dom_hits.csv")
    out = []
    for tr in _rows("truth.csv"):
        mine = [r for r in hits if r["event_idx"] == tr["event_idx"]]
        if len(mine) < 3:  # event 1 lit one DOM
            continue
        pos = np.array([[float(r["sensor_pos_x"]), float(r["sensor_pos_y"]),
                         float(r["sensor_pos_z"]) + PROMETHEUS_Z_OFFSET_M] for r in mine])
        dist = np.linalg.norm(detector.positions[None, :, :] - pos[:, None, :], axis=-1)
        event = Event("Prometheus", 0, int(tr["event_idx"]), datetime(2024, 1, 1, tzinfo=UTC),
                      dist.argmin(axis=1).astype(np.int64),
                      np.array([float(r["t_first"]) for r in mine]),
                      np.array([float(r["n_photons"]) for r in mine]))
        travel = direction_vector(float(tr["initial_state_zenith"]),
                                  float(tr["initial_state_azimuth"]))
        vertex = np.array([float(tr["initial_state_x"]), float(tr["initial_state_y"]),
                           float(tr["initial_state_z"]) + PROMETHEUS_Z_OFFSET_M])
        out.append((event, np.asarray(travel), vertex, float(tr["initial_state_energy"]) / 1e3))
    return out


def scan_errors(event: Event, detector: Detector, travel: np.ndarray,
                vertex: np.ndarray) -> dict[str, Any]:
    """Scan ``event``; direction error (and with the truth's direction reversed), vertex error,
    2ΔLLH at the true source direction's pixel and the regions' thresholds."""
    t0 = time.perf_counter()
    res = run_cascade_scan(event, detector)
    wall = time.perf_counter() - t0
    src = direction_vector(res.best.zenith, res.best.azimuth)
    cos = float(np.clip(-(src @ travel), -1.0, 1.0))
    fine = res.delta_llh_map()
    nside = hp.npix2nside(len(fine))
    true_src = -travel
    zen = float(np.arccos(np.clip(true_src[2], -1.0, 1.0)))
    azi = float(np.mod(np.arctan2(true_src[1], true_src[0]), 2 * np.pi))
    from reco.coords import local_to_equatorial

    ra, dec = local_to_equatorial(zen, azi, event.time)
    ts = float(fine[hp.ang2pix(nside, 0.5 * np.pi - float(dec), float(ra))])
    return {
        "n_pulses": event.n_pulses,
        "direction_error_deg": float(np.degrees(np.arccos(cos))),
        "direction_error_reversed_deg": float(np.degrees(np.arccos(-cos))),
        "vertex_error_m": float(np.linalg.norm(np.array(res.best.vertex) - vertex)),
        "ts_truth": ts if np.isfinite(ts) else 1e9,
        "covered": {r.name: bool(r.contains(float(ra), float(dec))) for r in res.regions},
        "wall_s": wall,
    }


def _stats(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    v = np.array([r[key] for r in rows])
    return {"median": float(np.median(v)), "q68": float(np.quantile(v, 0.68)), "n": len(v)}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and 68 % quantiles of the errors, and the regions' coverage."""
    out: dict[str, Any] = {k: _stats(rows, k) for k in
                           ("direction_error_deg", "direction_error_reversed_deg",
                            "vertex_error_m", "wall_s")}
    names = sorted({n for r in rows for n in r["covered"]})
    out["coverage"] = {n: float(np.mean([r["covered"].get(n, False) for r in rows]))
                       for n in names}
    out["ts_truth_quantiles_50_90"] = [float(q) for q in
                                       np.quantile([r["ts_truth"] for r in rows], [0.5, 0.9])]
    return out


def main() -> None:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-bin", type=int, default=50)
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--name", default="cascade_robustness")
    args = p.parse_args()
    det = load_ic86()
    result: dict[str, Any] = {"prometheus": [], "perturbed": []}
    for event, travel, vertex, energy in prometheus_events(det):
        row = {"event": event.event_id, "energy_tev": energy,
               **scan_errors(event, det, travel, vertex)}
        result["prometheus"].append(row)
        print("prometheus", json.dumps(row), flush=True)
    pd = perturb(det, np.random.default_rng(args.seed + 1))
    rng = np.random.default_rng(args.seed)
    for (lo, hi), i in itertools.product(itertools.pairwise(CASCADE_BINS),
                                         range(args.per_bin)):
        energy = float(10 ** rng.uniform(np.log10(lo), np.log10(hi)))
        event = simulate_perturbed_cascade(np.random.default_rng(int(rng.integers(2**31))),
                                           pd, energy, event_id=i)
        truth = event.truth
        assert truth is not None
        travel = -direction_vector(truth.zenith, truth.azimuth)
        row = {"bin": f"{lo:g}-{hi:g}", "energy_tev": energy,
               **scan_errors(event, det, np.asarray(travel), np.array(truth.vertex))}
        result["perturbed"].append(row)
        print("perturbed", json.dumps(row), flush=True)
    report = {"prometheus": summary(result["prometheus"]),
              "perturbed": summary(result["perturbed"]),
              "perturbed_by_bin": {b: summary([r for r in result["perturbed"] if r["bin"] == b])
                                   for b in sorted({r["bin"] for r in result["perturbed"]})}}
    print(json.dumps(report, indent=1))
    path = write_result(args.name, {**report, "events": result, "args": vars(args)})
    print(f"written {path}")


if __name__ == "__main__":
    main()
