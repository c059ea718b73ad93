"""Read the calibration rows of :mod:`bench.systematics` against a recorded calibration.

- **Fresh coverage**: events that played no part in a recorded calibration (e.g. the top-up
  tracks against the thresholds derived before them), per energy-proxy bin, with the
  Clopper–Pearson 68 % interval.
- **What a split should give**: with continuous statistics, a threshold that is NumPy's
  linearly interpolated ``level`` quantile of ``n`` training events covers a fresh event with
  expectation :math:`(h + 1)/(n + 1)`, :math:`h = \\mathrm{level}\\,(n - 1)`
  (:func:`expected_split_coverage`): 0.883 rather than 0.9 for halves of 95 events. The
  split-conformal rank the thresholds use since the seventh session gives
  :math:`\\lceil (n+1)c \\rceil/(n+1) \\ge c` (:func:`expected_conformal_coverage`).
- **Areas**: the 90 % / 50 % area of each scanned event at its bin's threshold, interpolated
  (log-log) in the areas the rows recorded at :data:`bench.systematics.AREA_THRESHOLDS`.

::

    git show 2734b68:reco/data/calibration.json > /tmp/calibration-before.json
    python -m bench.systematics_report --calibration /tmp/calibration-before.json \\
        --kind track --min-index 100000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import beta, binom

from bench.systematics import AREA_THRESHOLDS, ROWS, conformal_rank
from reco.regions import thresholds_for


def expected_split_coverage(n_train: int, level: float) -> float:
    """Expected coverage of a fresh event by ``np.quantile(train, level)`` of ``n_train``
    events of a continuous statistic.

    >>> round(expected_split_coverage(47, 0.9), 4)
    0.8833
    """
    h = level * (n_train - 1)
    return (h + 1.0) / (n_train + 1.0)


def expected_conformal_coverage(n_train: int, level: float) -> float:
    """Expected coverage of a fresh event by the split-conformal threshold of ``n_train``
    events (:func:`bench.systematics.conformal_threshold`): rank over ``n_train + 1``.

    >>> round(expected_conformal_coverage(119, 0.9), 4)
    0.9
    """
    return conformal_rank(n_train, level) / (n_train + 1.0)


def clopper_pearson(k: int, n: int, cl: float = 0.68) -> tuple[float, float]:
    """Two-sided Clopper–Pearson interval of ``k`` successes in ``n``."""
    a = 0.5 * (1.0 - cl)
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1.0 - a, k + 1, n - k))
    return lo, hi


def fresh_coverage(
    rows: list[dict[str, Any]], calibration: dict[str, Any], kind: str
) -> list[dict[str, Any]]:
    """Coverage of ``rows`` of ``kind`` under ``calibration``, per energy-proxy bin (the bin
    each event's proxy selects, as production does)."""
    out: dict[Any, dict[str, Any]] = {}
    for r in rows:
        if r["kind"] != kind:
            continue
        got = thresholds_for(calibration, r["energy_proxy_tev"], kind)
        if got is None:
            continue
        b = out.setdefault(
            got.energy_bin,
            {
                "energy_proxy_tev": got.energy_bin,
                "n": 0,
                "covered": {"0.5": 0, "0.9": 0},
                "thresholds": got.by_containment,
            },
        )
        b["n"] += 1
        for c, t in got.by_containment.items():
            b["covered"][str(c)] += int(r["ts_truth"] <= t)
    for b in out.values():
        b["coverage"] = {c: k / b["n"] for c, k in b["covered"].items()}
        b["interval_68"] = {c: clopper_pearson(k, b["n"]) for c, k in b["covered"].items()}
        b["p_at_most_observed_if_0.9"] = float(binom.cdf(b["covered"]["0.9"], b["n"], 0.9))
    return sorted(
        out.values(),
        key=lambda b: (
            -np.inf
            if b["energy_proxy_tev"] is None or b["energy_proxy_tev"][0] is None
            else b["energy_proxy_tev"][0]
        ),
    )


def area_at(row: dict[str, Any], threshold: float) -> float:
    """Area [deg²] of the region ``2ΔLLH ≤ threshold`` of a scanned row, interpolated in
    log-log between the recorded thresholds (clipped at the grid's ends)."""
    areas = np.maximum(np.asarray(row["area_deg2_at"], float), 1e-6)
    t = np.clip(threshold, AREA_THRESHOLDS[0], AREA_THRESHOLDS[-1])
    return float(np.exp(np.interp(np.log(t), np.log(AREA_THRESHOLDS), np.log(areas))))


def median_areas(
    rows: list[dict[str, Any]], calibration: dict[str, Any], kind: str
) -> dict[str, Any]:
    """Median 50 % / 90 % area of the scanned rows of ``kind`` at their bin's thresholds."""
    scanned = [r for r in rows if r["kind"] == kind and "area_deg2_at" in r]
    out: dict[str, Any] = {"n": len(scanned)}
    for c in (0.5, 0.9):
        areas = []
        for r in scanned:
            got = thresholds_for(calibration, r["energy_proxy_tev"], kind)
            assert got is not None
            areas.append(area_at(r, got.by_containment[c]))
        out[str(c)] = float(np.median(areas)) if areas else None
    return out


def main() -> None:
    """Command line: fresh coverage and areas of ``--rows`` under ``--calibration``."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--rows", default=str(ROWS))
    p.add_argument("--calibration", required=True)
    p.add_argument("--kind", default="track")
    p.add_argument("--min-index", type=int, default=0, help="only rows from this index on")
    args = p.parse_args()
    rows = [json.loads(line) for line in Path(args.rows).read_text().splitlines() if line]
    rows = [r for r in rows if r["index"] >= args.min_index]
    calib = json.loads(Path(args.calibration).read_text("utf-8"))
    report = {
        "fresh": fresh_coverage(rows, calib, args.kind),
        "median_area_deg2": median_areas(rows, calib, args.kind),
        "expected_split_coverage_90": {
            str(n): expected_split_coverage(n, 0.9) for n in (47, 48, 60, 100)
        },
        "expected_conformal_coverage_90": {
            str(n): expected_conformal_coverage(n, 0.9) for n in (47, 48, 60, 100, 119, 135)
        },
    }
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
