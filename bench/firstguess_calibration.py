"""Calibration of the first guess's error circle: how many paraboloid sigmas contain the truth.

Usage (from the repository root)::

    python -m bench.firstguess_calibration --n 400 --seed 5 --write-calibration

Simulates through-going tracks (energy log-uniform in [--emin, --emax] TeV, isotropic), runs
:func:`reco.firstguess.first_guess` on each and records the angular error and the
paraboloid sigma (:func:`reco.firstguess.paraboloid_sigma`). The 50 % / 90 % factors are the
quantiles of error / sigma; coverage is reported out of sample (factors from the even-indexed
events applied to the odd ones and the other way round) and per energy bin, next to the
coverage the fixed circles (1.5° / 3.0°) published before would have had. Those fixed circles
stay as the fallback for a fit whose likelihood is not convex around it (no paraboloid).
Results go to ``bench/results/firstguess_calibration.json``; ``--write-calibration`` records
the factors in ``reco/data/firstguess_calibration.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reco.coords import angular_distance
from reco.detector import load_ic86
from reco.firstguess import first_guess
from reco.simulate import simulate_event

ENERGY_BINS = (10.0, 30.0, 100.0, 300.0, 1000.0)
BOUNDS_DEG = (0.1, 15.0)
FALLBACK_RADII_DEG = (1.5, 3.0)


def _factors(err: np.ndarray, sig: np.ndarray) -> tuple[float, float]:
    ratio = err / sig
    return float(np.quantile(ratio, 0.5)), float(np.quantile(ratio, 0.9))


def _covered(err: np.ndarray, sig: np.ndarray, factor: float) -> np.ndarray:
    radius = np.clip(sig * factor, *BOUNDS_DEG)
    return np.asarray(err <= radius)


def main() -> None:
    """Command line: simulate ``--n`` tracks, fit the first guess of each, print and write
    the figures (and the calibration with ``--write-calibration``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--emin", type=float, default=10.0)
    p.add_argument("--emax", type=float, default=1000.0)
    p.add_argument("--out", default="bench/results/firstguess_calibration.json")
    p.add_argument("--write-calibration", action="store_true")
    args = p.parse_args()
    det = load_ic86()
    rng = np.random.default_rng(args.seed)
    rows: list[dict[str, float]] = []
    for i in range(args.n):
        e_tev = float(10 ** rng.uniform(np.log10(args.emin), np.log10(args.emax)))
        sim = simulate_event(
            np.random.default_rng(int(rng.integers(2**31))), det, "throughgoing", e_tev
        )
        fg = first_guess(sim.event, det)
        error = float(np.degrees(angular_distance(fg.ra, fg.dec, sim.truth.ra, sim.truth.dec)))
        rows.append(
            {
                "energy_tev": e_tev,
                "error_deg": error,
                "sigma_deg": fg.sigma_deg,
                "elapsed_s": fg.elapsed,
            }
        )
        if i % 50 == 0:
            print(f"{i} E={e_tev:.0f} err={error:.3f} sigma={fg.sigma_deg:.3f}", flush=True)
    energy = np.array([r["energy_tev"] for r in rows])
    err = np.array([r["error_deg"] for r in rows])
    sig = np.array([r["sigma_deg"] for r in rows])
    ok = np.isfinite(sig)
    idx = np.arange(len(rows))
    f50, f90 = _factors(err[ok], sig[ok])
    # Out of sample: each half covered with the other half's factors.
    cov50 = np.zeros(len(rows), bool)
    cov90 = np.zeros(len(rows), bool)
    for part in (0, 1):
        train = ok & (idx % 2 == part)
        test = ok & (idx % 2 != part)
        a50, a90 = _factors(err[train], sig[train])
        cov50[test] = _covered(err[test], sig[test], a50)
        cov90[test] = _covered(err[test], sig[test], a90)
    fallback = FALLBACK_RADII_DEG
    bins: list[dict[str, Any]] = []
    for lo, hi in itertools.pairwise(ENERGY_BINS):
        m = ok & (energy >= lo) & (energy < hi)
        if m.sum():
            bins.append(
                {
                    "energy_tev": [lo, hi],
                    "n": int(m.sum()),
                    "coverage_50": float(cov50[m].mean()),
                    "coverage_90": float(cov90[m].mean()),
                    "median_r90_deg": float(np.median(np.clip(sig[m] * f90, *BOUNDS_DEG))),
                    "median_error_deg": float(np.median(err[m])),
                    "fixed_circle_coverage_50": float((err[m] <= 1.5).mean()),
                    "fixed_circle_coverage_90": float((err[m] <= 3.0).mean()),
                }
            )
    summary: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "n_events": len(rows),
        "n_convex": int(ok.sum()),
        "sample": f"through-going tracks, E log-uniform {args.emin:g}–{args.emax:g} TeV, "
        f"isotropic, seed {args.seed}",
        "factor_50": f50,
        "factor_90": f90,
        "coverage_50_out_of_sample": float(cov50[ok].mean()),
        "coverage_90_out_of_sample": float(cov90[ok].mean()),
        "fixed_circle_coverage_50": float((err <= 1.5).mean()),
        "fixed_circle_coverage_90": float((err <= 3.0).mean()),
        "median_r50_deg": float(np.median(np.clip(sig[ok] * f50, *BOUNDS_DEG))),
        "median_r90_deg": float(np.median(np.clip(sig[ok] * f90, *BOUNDS_DEG))),
        "fallback_radii_deg": fallback,
        "median_first_guess_s": float(np.median([r["elapsed_s"] for r in rows])),
        "per_energy_bin": bins,
        "load_after": os.getloadavg(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    if args.write_calibration:
        calib = {
            "factor_50": round(f50, 3),
            "factor_90": round(f90, 3),
            "radius_bounds_deg": list(BOUNDS_DEG),
            "fallback_radii_deg": list(fallback),
            "fallback_note": "conservative fixed circles for a fit whose likelihood is not convex",
            "statistic": "angular error / paraboloid sigma of the first guess",
            "n_events": len(rows),
            "sample": summary["sample"],
            "command": "python -m bench.firstguess_calibration --n "
            f"{args.n} --seed {args.seed} --write-calibration",
            "date": summary["date"],
        }
        target = Path(__file__).resolve().parent.parent / "reco" / "data"
        (target / "firstguess_calibration.json").write_text(
            json.dumps(calib, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
