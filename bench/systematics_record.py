"""The calibration records :mod:`bench.systematics` writes: tracks to
``reco/data/calibration.json``, cascades to ``reco/cascade/calibration.json``.

Each record names the simulation (``systematics``), the method, the statistic, the binning, the
command, date and seed, and per energy-proxy bin the 50 % / 90 % thresholds with their
out-of-sample coverage; :func:`reco.regions.thresholds_for` reads either.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SYSTEMATICS = "perturbed-ice v1"
"""Name of the simulation the thresholds are calibrated on (:mod:`reco.simulate_perturbed`)."""
ROOT = Path(__file__).resolve().parents[1]
CALIBRATION_FILES = {
    "track": ROOT / "reco" / "data" / "calibration.json",
    "cascade": ROOT / "reco" / "cascade" / "calibration.json",
}
"""Where each hypothesis' calibration is recorded (what production reads)."""
STATISTICS = {
    "track": "2ΔLLH of the true direction, profiled over the track's position and time, "
    "against the best fit",
    "cascade": "2ΔLLH at the true direction's pixel of the production cascade scan map "
    "(reco.cascade.run_cascade_scan), against the best fit",
}
"""The per-event statistic whose order statistics are the thresholds."""
MIN_BIN_EVENTS = 20
"""A proxy bin with fewer events takes the hypothesis' overall thresholds."""


def sample_description(kind: str) -> str:
    """What the calibration sample of ``kind`` is."""
    if kind == "track":
        return (
            "through-going muons, isotropic, muon energy log-uniform in each of 10–30–100–"
            "300–1000 TeV, closest approach within 400 m, reco.simulate_perturbed; top-up: "
            "more muons log-uniform in 300–1000 TeV from their own seed stream"
        )
    return (
        "point-like showers, isotropic, vertex in a 400 m × 800 m cylinder, deposited "
        "energy log-uniform in each of 10–30–100–300 TeV, reco.simulate_perturbed"
    )


def calibration_record(
    summary: dict[str, Any], command: str, date: str, kinds: tuple[str, ...] = ("track", "cascade")
) -> dict[str, Any]:
    """The record of the hypotheses ``kinds`` found in ``summary``
    (:func:`bench.systematics.summarise`): per hypothesis, the proxy-binned thresholds."""
    record: dict[str, Any] = {
        "systematics": SYSTEMATICS,
        "method": f"calibrated on simulation ({SYSTEMATICS})",
        "statistic": "; ".join(f"{k}: {STATISTICS[k]}" for k in kinds if k in summary)
        if len(kinds) > 1
        else STATISTICS[kinds[0]],
        "bin_by": "energy proxy at the best fit [TeV]",
        "threshold_rule": "split-conformal: in each bin the ⌈(n+1)·c⌉-th smallest of its n "
        "statistics (c = 0.5, 0.9), which covers a fresh event with probability ≥ c",
        "split": "out-of-sample coverage: halves by parity of the position in index order "
        "within the bin, each half's thresholds (same rule) applied to the other half",
        "command": command,
        "date": date,
        "seed": summary["seed"],
    }
    for kind in kinds:
        if kind not in summary:
            continue
        overall = summary[kind]["all"]["thresholds"]
        bins = []
        for b in summary[kind]["per_proxy_bin"]:
            thr = b["thresholds"] if b["n"] >= MIN_BIN_EVENTS else overall
            bins.append(
                {
                    "energy_proxy_tev": b["energy_proxy_tev"],
                    "n_events": b["n"],
                    "thresholds": thr,
                    "out_of_sample_coverage": b["out_of_sample_coverage"],
                }
            )
        record[kind] = {
            "n_events": summary[kind]["all"]["n"],
            "thresholds": overall,
            "out_of_sample_coverage": summary[kind]["all"]["out_of_sample_coverage"],
            "sample": sample_description(kind),
            "bins": bins,
        }
    return record


def write_calibrations(
    summary: dict[str, Any],
    command: str,
    date: str,
    files: dict[str, Path] | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
) -> list[Path]:
    """Write one record per hypothesis in ``summary`` to its file (``extra[kind]`` is merged
    into that record); returns the paths written."""
    written = []
    for kind, path in (files or CALIBRATION_FILES).items():
        if kind not in summary:
            continue
        record = {
            **calibration_record(summary, command, date, (kind,)),
            **(extra or {}).get(kind, {}),
        }
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", "utf-8")
        written.append(path)
    return written
