"""Quality of the cascade scan on nufair's own simulated showers: errors, coverage, calibration.

Simulates ``--n`` contained showers (:func:`reco.cascade.simulate.simulate_cascade`: the
likelihood's own light model, so this measures the method, not systematics), E log-uniform in
``--emin``–``--emax`` TeV, isotropic, scans each with :func:`reco.cascade.run_cascade_scan`
and reports the direction and vertex errors, the energy ratio, the Wilks regions' coverage and
areas, and the calibrated thresholds (quantiles of 2ΔLLH at the true direction's pixel of the
scan map) with their out-of-sample coverage (each half covered with the other half's
thresholds). It no longer writes the production calibration: closed-loop thresholds cover
0.07 / 0.78 on perturbed ice; ``reco/cascade/calibration.json`` is written by
``python -m bench.systematics_record --write-calibration`` from perturbed-ice showers.

    python -m bench.cascade_quality --n 24
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import healpy as hp
import numpy as np

from bench.common import write_result
from reco.cascade import run_cascade_scan
from reco.cascade.simulate import simulate_cascade
from reco.coords import angular_distance
from reco.detector import load_ic86
from reco.regions import WILKS_THRESHOLDS


def _one(seed: int, energy: float) -> dict[str, float]:
    """Simulate and scan one shower; its figures."""
    det = load_ic86()
    sim = simulate_cascade(np.random.default_rng(seed), det, energy)
    t0 = time.perf_counter()
    res = run_cascade_scan(sim.event, det)
    elapsed = time.perf_counter() - t0
    tr = sim.truth
    fine = res.delta_llh_map()
    nside = hp.npix2nside(len(fine))
    at_truth = float(fine[hp.ang2pix(nside, 0.5 * np.pi - tr.dec, tr.ra)])
    wilks = {r.containment: r for r in res.regions if r.method == "wilks"}
    return {
        "energy_tev": energy,
        "n_pulses": sim.event.n_pulses,
        "error_deg": float(np.degrees(angular_distance(res.best.ra, res.best.dec, tr.ra, tr.dec))),
        "vertex_error_m": float(np.linalg.norm(np.array(res.best.vertex) - tr.vertex)),
        "energy_ratio": res.best.energy / energy,
        "dllh_at_truth": at_truth if np.isfinite(at_truth) else 1e9,
        "wilks_50_covered": float(wilks[0.5].contains(tr.ra, tr.dec)),
        "wilks_90_covered": float(wilks[0.9].contains(tr.ra, tr.dec)),
        "wilks_90_area_deg2": wilks[0.9].area_deg2,
        "wilks_50_area_deg2": wilks[0.5].area_deg2,
        "elapsed_s": elapsed,
    }


def _summary(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Medians, coverage and calibrated thresholds (in and out of sample)."""
    def col(key: str) -> np.ndarray:
        return np.array([r[key] for r in rows])

    d = col("dllh_at_truth")
    idx = np.arange(len(d))
    out_of_sample: dict[str, float] = {}
    for c in (0.5, 0.9):
        covered = np.zeros(len(d), bool)
        for part in (0, 1):
            train, test = idx % 2 == part, idx % 2 != part
            covered[test] = d[test] <= np.quantile(d[train], c)
        out_of_sample[str(c)] = float(covered.mean())
    return {
        "n_events": len(rows),
        "median_error_deg": float(np.median(col("error_deg"))),
        "median_vertex_error_m": float(np.median(col("vertex_error_m"))),
        "median_energy_ratio": float(np.median(col("energy_ratio"))),
        "wilks_coverage_50": float(col("wilks_50_covered").mean()),
        "wilks_coverage_90": float(col("wilks_90_covered").mean()),
        "median_wilks_50_area_deg2": float(np.median(col("wilks_50_area_deg2"))),
        "median_wilks_90_area_deg2": float(np.median(col("wilks_90_area_deg2"))),
        "calibrated_thresholds": {str(c): float(np.quantile(d, c)) for c in (0.5, 0.9)},
        "calibrated_coverage_out_of_sample": out_of_sample,
        "wilks_thresholds": {str(k): v for k, v in WILKS_THRESHOLDS.items()},
        "median_scan_s": float(np.median(col("elapsed_s"))),
    }


def main() -> None:
    """Command line: simulate, scan, print and write the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--emin", type=float, default=10.0)
    p.add_argument("--emax", type=float, default=1000.0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for i in range(args.n):
        energy = float(10 ** rng.uniform(np.log10(args.emin), np.log10(args.emax)))
        rows.append(_one(int(rng.integers(2**31)), energy))
        r = rows[-1]
        print(f"{i} E={energy:.0f} TeV err={r['error_deg']:.1f}° vtx={r['vertex_error_m']:.1f} m "
              f"2ΔLLH(truth)={r['dllh_at_truth']:.2f} {r['elapsed_s']:.1f} s", flush=True)
    summary = _summary(rows)
    summary["sample"] = (f"contained showers (reco.cascade.simulate), E log-uniform "
                         f"{args.emin:g}–{args.emax:g} TeV, isotropic, seed {args.seed}")
    path = write_result("cascade_quality", {**summary, "events": rows})
    print(json.dumps(summary, indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
