"""Coverage of the regions on a simulation that does not share the likelihood's photon model.

Tracks and cascades are drawn with :mod:`reco.simulate_perturbed` (layered ice from the depth
table, per-sensor efficiency ±10 %, non-Pandel delays, jitter, noise, afterpulses: one
realisation of the detector per run, the likelihood sees the nominal one) and scanned with
the production scans (``run_scan``; tracks as Gold, cascades as the Cascade stream). Reported
per energy bin and hypothesis:

- coverage of the regions production reports (calibrated when a calibration is recorded,
  else Wilks) at 50 % and 90 %: the truth's pixel of the finest map lies inside;
- the median 90 % area, beside IceCube's (IceCat-1 median 5.8 deg²);
- the 2ΔLLH thresholds that would give nominal coverage (quantiles of 2ΔLLH at the truth's
  pixel) and their coverage out of sample (two halves by index parity, each covered with the
  other's thresholds).

One JSON line per event goes to ``--rows`` (a run resumes where it stopped); the summary to
``bench/results/systematics.json``. The full study (≥ 500 tracks, ≥ 200 cascades) is for a
quiet machine::

    python -m bench.systematics --tracks 100 --cascades 70   # per energy bin
    python -m bench.systematics --tracks 2 --cascades 2 --nsides 8:0,64:4,512:8  # a smoke run
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import healpy as hp
import numpy as np

from bench.common import write_result
from reco.cluster import local_client
from reco.coords import angular_distance
from reco.detector import load_ic86
from reco.event import Event
from reco.result import ScanResult
from reco.scan import run_scan
from reco.scan_config import ScanConfig
from reco.simulate_perturbed import (
    PerturbedDetector,
    perturb,
    simulate_perturbed_cascade,
    simulate_perturbed_track,
)

TRACK_BINS = (10.0, 30.0, 100.0, 300.0, 1000.0)
"""Energy bin edges of the tracks [TeV] (muon energy)."""
CASCADE_BINS = (10.0, 30.0, 100.0, 300.0)
"""Energy bin edges of the cascades [TeV] (deposited)."""
ICECAT1_MEDIAN_90_DEG2 = 5.8
"""IceCat-1's median 90 % area of track alerts [deg²]."""
ROWS = Path(__file__).resolve().parent / "results" / "systematics.jsonl"


def _reported(res: ScanResult) -> dict[int, Any]:
    """The regions production reports at 50 / 90 %: calibrated if present, else Wilks."""
    by_name = {r.name: r for r in res.regions}
    out = {}
    for level in (50, 90):
        region = by_name.get(f"calibrated-{level}") or by_name.get(f"wilks-{level}")
        if region is not None:
            out[level] = region
    return out


def scan_one(event: Event, kind: str, client: Any, config: ScanConfig) -> dict[str, Any]:
    """Scan one simulated event; its figures (truth must be attached)."""
    truth = event.truth
    assert truth is not None
    det = load_ic86()
    t0 = time.perf_counter()
    res = run_scan(event, det, config, client=client,
                   stream="cascade" if kind == "cascade" else "gold")
    wall = time.perf_counter() - t0
    fine = res.delta_llh_map()
    nside = hp.npix2nside(len(fine))
    ts = float(fine[hp.ang2pix(nside, 0.5 * np.pi - truth.dec, truth.ra)])
    regions = _reported(res)
    return {
        "kind": kind, "energy_tev": truth.energy_tev, "n_pulses": event.n_pulses,
        "error_deg": float(np.degrees(angular_distance(res.best.ra, res.best.dec,
                                                       truth.ra, truth.dec))),
        "ts_truth_pixel": ts if np.isfinite(ts) else 1e9,
        "covered": {str(k): bool(r.contains(truth.ra, truth.dec)) for k, r in regions.items()},
        "methods": {str(k): r.name for k, r in regions.items()},
        "areas_deg2": {str(k): r.area_deg2 for k, r in regions.items()},
        "finest_nside": nside, "wall_s": wall,
    }


def _events(args: argparse.Namespace) -> list[tuple[str, float, int]]:
    """(kind, energy, seed) of every event of the run, in a fixed order."""
    rng = np.random.default_rng(args.seed)
    plan = []
    for kind, edges, n in (("track", TRACK_BINS, args.tracks),
                           ("cascade", CASCADE_BINS, args.cascades)):
        for lo, hi in itertools.pairwise(edges):
            for _ in range(n):
                energy = float(10 ** rng.uniform(np.log10(lo), np.log10(hi)))
                plan.append((kind, energy, int(rng.integers(2**31))))
    return plan


def simulate(kind: str, energy: float, seed: int, pd: PerturbedDetector, index: int) -> Event:
    """One perturbed event."""
    rng = np.random.default_rng(seed)
    if kind == "track":
        return simulate_perturbed_track(rng, pd, energy, event_id=index)
    return simulate_perturbed_cascade(rng, pd, energy, event_id=index)


def run(args: argparse.Namespace) -> None:
    """Simulate and scan the plan, one JSON line per event (events already done skipped)."""
    rows_path = Path(args.rows)
    rows_path.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if rows_path.exists():
        done = {json.loads(line)["index"] for line in rows_path.read_text().splitlines() if line}
    pd = perturb(load_ic86(), np.random.default_rng(args.seed + 1))
    config = (ScanConfig(nsides=ScanConfig.parse_nsides(args.nsides)) if args.nsides
              else ScanConfig())
    client = local_client(args.workers)
    try:
        for i, (kind, energy, seed) in enumerate(_events(args)):
            if i in done:
                continue
            row = {"index": i, "seed": seed, **scan_one(simulate(kind, energy, seed, pd, i),
                                                        kind, client, config)}
            with rows_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{i} {kind} E={energy:.0f} TeV pulses={row['n_pulses']} "
                  f"err={row['error_deg']:.2f}° ts={row['ts_truth_pixel']:.2f} "
                  f"covered={row['covered']} {row['wall_s']:.1f} s", flush=True)
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None:
            cluster.close()


def _out_of_sample(ts: np.ndarray, level: float) -> float | None:
    """Coverage of each parity half with the other half's ``level`` quantile."""
    idx = np.arange(len(ts))
    if len(ts) < 4:
        return None
    covered = np.zeros(len(ts), bool)
    for part in (0, 1):
        train, test = idx % 2 == part, idx % 2 != part
        covered[test] = ts[test] <= np.quantile(ts[train], level)
    return float(covered.mean())


def _figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage, areas and thresholds of ``rows``."""
    ts = np.array([r["ts_truth_pixel"] for r in rows])
    area90 = [r["areas_deg2"].get("90", np.nan) for r in rows]
    return {
        "n": len(rows),
        "coverage_50": float(np.mean([r["covered"].get("50", False) for r in rows])),
        "coverage_90": float(np.mean([r["covered"].get("90", False) for r in rows])),
        "methods": sorted({m for r in rows for m in r["methods"].values()}),
        "median_90_area_deg2": float(np.nanmedian(area90)),
        "median_error_deg": float(np.median([r["error_deg"] for r in rows])),
        "thresholds_for_nominal": {str(c): float(np.quantile(ts, c)) for c in (0.5, 0.9)},
        "out_of_sample_coverage": {str(c): _out_of_sample(ts, c) for c in (0.5, 0.9)},
        "median_wall_s": float(np.median([r["wall_s"] for r in rows])),
    }


def summarise(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The figures per hypothesis and per energy bin."""
    out: dict[str, Any] = {"icecat1_median_90_area_deg2": ICECAT1_MEDIAN_90_DEG2,
                           "nsides": args.nsides or "default", "seed": args.seed}
    for kind, edges in (("track", TRACK_BINS), ("cascade", CASCADE_BINS)):
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        bins = []
        for lo, hi in itertools.pairwise(edges):
            inside = [r for r in mine if lo <= r["energy_tev"] < hi]
            if inside:
                bins.append({"energy_tev": [lo, hi], **_figures(inside)})
        out[kind] = {"all": _figures(mine), "per_energy_bin": bins}
    return out


def main() -> None:
    """Command line: run (resuming), then summarise into bench/results/systematics.json."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--tracks", type=int, default=2, help="tracks per energy bin")
    p.add_argument("--cascades", type=int, default=2, help="cascades per energy bin")
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--nsides", default=None, help="scan nsides (default: production's)")
    p.add_argument("--rows", default=str(ROWS))
    p.add_argument("--summarise", action="store_true", help="only summarise --rows")
    args = p.parse_args()
    t0 = time.perf_counter()
    if not args.summarise:
        run(args)
    rows = [json.loads(line) for line in Path(args.rows).read_text().splitlines() if line]
    summary = summarise(rows, args)
    summary["wall_s_this_call"] = time.perf_counter() - t0
    path = write_result("systematics", summary)
    print(json.dumps(summary, indent=1))
    print(f"→ {path}")


if __name__ == "__main__":
    main()
