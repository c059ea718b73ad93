"""bench.systematics' summary and calibration record: thresholds per true-energy and per
energy-proxy bin, out-of-sample coverage by parity halves, computed here from the rows by hand.

The thresholds are split-conformal: here, independently of the code's rank arithmetic, the
smallest sample value t with #(ts <= t) >= (n + 1) c, counted in exact fractions (the largest
value when no value reaches that count)."""

from __future__ import annotations

import argparse
from fractions import Fraction

import numpy as np
import pytest

from bench.systematics import conformal_rank, conformal_threshold, out_of_sample, summarise
from bench.systematics_record import calibration_record
from reco.regions import thresholds_for


def _row(i: int, energy: float, ts: float, proxy: float, kind: str = "track") -> dict[str, object]:
    return {"index": i, "kind": kind, "energy_tev": energy, "energy_proxy_tev": proxy,
            "ts_truth": ts, "error_deg": 0.1 * i, "wall_s": 1.0, "n_pulses": 100,
            "statistic": "profile"}


TS = [0.5, 3.0, 9.0, 20.0, 1.0, 50.0, 2.5, 7.0]


def _conformal(ts: list[float] | np.ndarray, level: float) -> float:
    """The smallest value t of ``ts`` with #(ts <= t) >= (n + 1) level, in exact fractions."""
    values = [float(v) for v in ts]
    need = (len(values) + 1) * Fraction(str(level))
    for t in sorted(values):
        if sum(v <= t for v in values) >= need:
            return t
    return max(values)


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
    assert low["thresholds"]["0.9"] == 20.0 == _conformal(TS[:4], 0.9)  # clamped: the largest
    # out of sample: even indices covered with the odd ones' 50 % threshold and vice versa
    even, odd = np.array(TS[:4][0::2]), np.array(TS[:4][1::2])
    expect = (np.sum(even <= _conformal(odd, 0.5)) + np.sum(odd <= _conformal(even, 0.5))) / 4
    assert low["out_of_sample_coverage"]["0.5"] == pytest.approx(expect)
    proxies = {tuple(b["energy_proxy_tev"]): b for b in out["track"]["per_proxy_bin"]}
    assert set(proxies) == {(None, 30.0), (100.0, 300.0)}
    # 1, 2.5, 7, 50: the 3rd smallest (5 * 0.5 = 2.5 → 3), not the interpolated median 4.75
    assert proxies[(100.0, 300.0)]["thresholds"]["0.5"] == 7.0 == _conformal(TS[4:], 0.5)
    assert out["cascade"]["all"]["n"] == 1
    assert out["cascade"]["all"]["out_of_sample_coverage"]["0.5"] is None  # too few
    assert out["icecat1_median_90_area_deg2"] == 5.8
    assert out["track"]["statistics"] == ["profile"]


def test_out_of_sample_by_hand() -> None:
    """Ten values 0..9: each half's 90 % threshold covers all of the other half but its
    largest value when that exceeds the threshold."""
    ts = np.arange(10.0)
    # five values: rank ⌈6 · 0.9⌉ = 6 > 5, so the largest. Even half 0,2,4,6,8 → 8 covers
    # odd 1,3,5,7 (not 9); odd half → 9 covers every even value: 9 of 10.
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
    # 31 · 0.9 = 27.9: the 28th smallest of 0..29, i.e. 27 (NumPy's quantile would say 26.1)
    assert low["thresholds"]["0.9"] == 27.0 == _conformal(np.arange(30.0), 0.9)
    assert high["thresholds"] == track["thresholds"]  # too few: the whole sample's
    got = thresholds_for(rec, 25.0)
    assert got is not None and got.by_containment[0.9] == pytest.approx(low["thresholds"]["0.9"])
    assert got.systematics == "perturbed-ice v1"


def test_conformal_rank_where_binary_rounding_would_move_it() -> None:
    """(n + 1) · 0.9 is an integer for n = 119 (108) but not in binary floating point
    (108.00000000000001): the rank must be 108, the value the exact count gives."""
    ts = np.arange(119.0)
    assert conformal_threshold(ts, 0.9) == 107.0 == _conformal(ts, 0.9)
    assert conformal_rank(119, 0.9) == 108
    for n in range(20, 400):
        ts = np.arange(float(n))
        for level in (0.5, 0.9):
            assert conformal_threshold(ts, level) == _conformal(ts, level)


def test_conformal_threshold_covers_fresh_events_at_least_at_the_level() -> None:
    """Monte Carlo with uniform statistics (a uniform's CDF is itself): the expected coverage
    of a fresh event by the threshold of n training events is k/(n + 1) >= level."""
    rng = np.random.default_rng(7)
    for n in (47, 119, 135):
        train = rng.random((20000, n))
        cover = np.mean([conformal_threshold(t, 0.9) for t in train])
        k = int(np.ceil(round((n + 1) * 0.9, 9)))
        assert cover == pytest.approx(k / (n + 1), abs=0.003)
        assert cover >= 0.9 - 0.003
