"""bench.systematics' summary: coverage, thresholds for nominal coverage and out-of-sample
coverage per energy bin, computed here from the rows by hand."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from bench.systematics import summarise


def _row(i: int, energy: float, ts: float, kind: str = "track") -> dict[str, object]:
    return {"index": i, "kind": kind, "energy_tev": energy, "ts_truth_pixel": ts,
            "error_deg": 0.1 * i, "wall_s": 1.0, "n_pulses": 100,
            "covered": {"50": ts <= 1.941, "90": ts <= 8.734},
            "methods": {"50": "calibrated-50", "90": "calibrated-90"},
            "areas_deg2": {"50": 0.01, "90": 0.02 * (i + 1)}}


def test_summary_per_bin_and_thresholds() -> None:
    ts = [0.5, 3.0, 9.0, 20.0, 1.0, 50.0, 2.5, 7.0]
    rows = [_row(i, 15.0 if i < 4 else 50.0, t) for i, t in enumerate(ts)]
    rows.append(_row(8, 20.0, 1.0, kind="cascade"))
    out = summarise(rows, argparse.Namespace(nsides=None, seed=1))
    low, high = out["track"]["per_energy_bin"]
    assert low["energy_tev"] == [10.0, 30.0] and low["n"] == 4 and high["n"] == 4
    assert low["coverage_90"] == pytest.approx(2 / 4)  # 0.5 and 3.0 are ≤ 8.734
    assert low["coverage_50"] == pytest.approx(1 / 4)
    assert low["thresholds_for_nominal"]["0.9"] == pytest.approx(np.quantile(ts[:4], 0.9))
    # out of sample: even indices covered with the odd ones' 50 % quantile and vice versa
    even, odd = np.array(ts[:4][0::2]), np.array(ts[:4][1::2])
    expect = (np.sum(even <= np.quantile(odd, 0.5)) + np.sum(odd <= np.quantile(even, 0.5))) / 4
    assert low["out_of_sample_coverage"]["0.5"] == pytest.approx(expect)
    assert out["track"]["all"]["median_90_area_deg2"] == pytest.approx(
        np.median([0.02 * (i + 1) for i in range(8)]))
    assert out["cascade"]["all"]["n"] == 1
    assert out["cascade"]["all"]["out_of_sample_coverage"]["0.5"] is None  # too few
    assert out["icecat1_median_90_area_deg2"] == 5.8
