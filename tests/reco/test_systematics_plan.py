"""bench.systematics' plan (top-up blocks with their own seeds, the main plan unchanged, bins
taking turns) and bench.systematics_report's figures, against independent computations."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from scipy.stats import binomtest

from bench.systematics import (
    CASCADE_TOPUP_OFFSET,
    TOPUP_BIN,
    TOPUP_OFFSET,
    _events,
    execution_order,
)
from bench.systematics_report import clopper_pearson, expected_split_coverage, fresh_coverage


def _args(**kw: int) -> argparse.Namespace:
    base = {"seed": 18, "tracks": 5, "cascades": 4, "topup": 0, "cascade_topup": 0}
    return argparse.Namespace(**{**base, **kw})


def test_topups_leave_the_main_plan_alone_and_have_their_own_seeds() -> None:
    main = _events(_args())
    full = _events(_args(topup=30, cascade_topup=7))
    assert full[: len(main)] == main
    assert [e[0] for e in main] == list(range(len(main)))
    top = [e for e in full if TOPUP_OFFSET <= e[0] < CASCADE_TOPUP_OFFSET]
    ctop = [e for e in full if e[0] >= CASCADE_TOPUP_OFFSET]
    assert len(top) == 30 and len(ctop) == 21
    assert all(k == "track" and TOPUP_BIN[0] <= e < TOPUP_BIN[1] for _, k, e, _ in top)
    assert all(k == "cascade" for _, k, _, _ in ctop)
    seeds = [s for *_, s in full]
    assert len(set(seeds)) == len(seeds)
    # the top-up stream does not depend on the main plan's size
    other = _events(_args(tracks=9, topup=30))
    assert [e for e in other if e[0] >= TOPUP_OFFSET] == top


def test_execution_order_takes_bins_in_turn() -> None:
    plan = _events(_args(cascades=3))
    order = execution_order(plan, {"cascade"})
    assert sorted(order) == sorted(e for e in plan if e[1] == "cascade")
    firsts = [
        np.searchsorted((10.0, 30.0, 100.0, 300.0), e, side="right") for _, _, e, _ in order[:3]
    ]
    assert sorted(firsts) == [1, 2, 3]
    assert execution_order(plan, {"topup"}) == []


def test_expected_split_coverage_against_monte_carlo() -> None:
    rng = np.random.default_rng(1)
    for n in (7, 47):
        train = rng.uniform(size=(20000, n))
        mc = np.mean(np.quantile(train, 0.9, axis=1))  # a uniform's CDF is itself
        assert expected_split_coverage(n, 0.9) == pytest.approx(mc, abs=0.003)


def test_clopper_pearson_and_fresh_coverage() -> None:
    ci = binomtest(82, 95).proportion_ci(0.68, method="exact")
    assert clopper_pearson(82, 95) == pytest.approx((ci.low, ci.high))
    calib = {
        "systematics": "x",
        "track": {
            "thresholds": {"0.5": 1.0, "0.9": 2.0},
            "bins": [
                {"energy_proxy_tev": [None, 100.0], "thresholds": {"0.5": 1.0, "0.9": 3.0}},
                {"energy_proxy_tev": [100.0, None], "thresholds": {"0.5": 5.0, "0.9": 9.0}},
            ],
        },
    }
    ts = [0.5, 2.0, 4.0, 6.0, 10.0]
    rows = [
        {"kind": "track", "energy_proxy_tev": 50.0 if i < 2 else 500.0, "ts_truth": t}
        for i, t in enumerate(ts)
    ]
    low, high = fresh_coverage(rows, calib, "track")
    assert low["n"] == 2 and low["covered"] == {"0.5": 1, "0.9": 2}
    assert high["n"] == 3 and high["covered"] == {"0.5": 1, "0.9": 2}
