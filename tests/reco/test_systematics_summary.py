"""bench.systematics' summary and calibration record: thresholds per true-energy and per
energy-proxy bin, out-of-sample coverage by parity halves, computed here from the rows by hand."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from bench.systematics import out_of_sample, summarise
from bench.systematics_record import calibration_record
from reco.regions import thresholds_for


def _row(i: int, energy: float, ts: float, proxy: float, kind: str = "track") -> dict[str, object]:
    return {"index": i, "kind": kind, "energy_tev": energy, "energy_proxy_tev": proxy,
            "ts_truth": ts, "error_deg": 0.1 * i, "wall_s": 1.0, "n_pulses": 100,
            "statistic": "profile"}


TS = [0.5, 3.0, 9.0, 20.0, 1.0, 50.0, 2.5, 7.0]


def _rows() -> list[dict[str, object]]:
    rows = [_row(i, 15.0 if i < 4 else 50.0, t, 20.0 if i < 4 else 150.0)
            for i, t in enumerate(TS)]
    rows.append(_row(8, 20.0, 1.0, 40.0, kind="cascade"))
    return rows


def test_summary_per_bin_and_thresholds() -> None:
    """Per true-energy bin: quantiles and the parity-half coverage; per proxy bin likewise."""
    out = summarise(_rows(), argparse.Namespace(seed=1))
    low, high = out["track"]["per_energy_bin"]
    assert low["energy_tev"] == [10.0, 30.0] and low["n"] == 4 and high["n"] == 4
    assert low["thresholds"]["0.9"] == pytest.approx(np.quantile(TS[:4], 0.9))
    # out of sample: even indices covered with the odd ones' 50 % quantile and vice versa
    even, odd = np.array(TS[:4][0::2]), np.array(TS[:4][1::2])
    expect = (np.sum(even <= np.quantile(odd, 0.5)) + np.sum(odd <= np.quantile(even, 0.5))) / 4
    assert low["out_of_sample_coverage"]["0.5"] == pytest.approx(expect)
    proxies = {tuple(b["energy_proxy_tev"]): b for b in out["track"]["per_proxy_bin"]}
    assert set(proxies) == {(None, 30.0), (100.0, 300.0)}
    assert proxies[(100.0, 300.0)]["thresholds"]["0.5"] == pytest.approx(np.median(TS[4:]))
    assert out["cascade"]["all"]["n"] == 1
    assert out["cascade"]["all"]["out_of_sample_coverage"]["0.5"] is None  # too few
    assert out["icecat1_median_90_area_deg2"] == 5.8
    assert out["track"]["statistics"] == ["profile"]


def test_out_of_sample_by_hand() -> None:
    """Ten values 0..9: each half's 90 % quantile covers all of the other half but its
    largest value when that exceeds the quantile."""
    ts = np.arange(10.0)
    # even half 0,2,4,6,8 → q90 = 7.2 covers odd 1,3,5,7 (not 9); odd half q90 = 8.2 covers
    # every even value 0..8: 9 of 10.
    assert out_of_sample(ts, 0.9) == pytest.approx(0.9)
    assert out_of_sample(ts[:3], 0.9) is None


def test_calibration_record_reads_back_through_regions() -> None:
    """The record production reads: per proxy bin (a bin under 20 events takes the whole
    sample's thresholds), provenance, and thresholds_for picks the bin of an event."""
    rows = [_row(i, 50.0, float(i), 20.0 if i < 30 else 500.0) for i in range(40)]
    summary = summarise(rows, argparse.Namespace(seed=3))
    rec = calibration_record(summary, "python -m bench.systematics --tracks 10", "2026-12-03")
    assert rec["systematics"] == "perturbed-ice v1" and rec["seed"] == 3
    track = rec["track"]
    assert track["n_events"] == 40
    low, high = track["bins"]
    assert low["n_events"] == 30 and high["n_events"] == 10
    assert low["thresholds"]["0.9"] == pytest.approx(np.quantile(np.arange(30.0), 0.9))
    assert high["thresholds"] == track["thresholds"]  # too few: the whole sample's
    got = thresholds_for(rec, 25.0)
    assert got is not None and got.by_containment[0.9] == pytest.approx(low["thresholds"]["0.9"])
    assert got.systematics == "perturbed-ice v1"
