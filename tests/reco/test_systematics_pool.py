"""bench.systematics_pool: rows of several detector realisations pooled into one calibration;
checked by hand on small rows (indices, realisations, and the thresholds of the union)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from bench.systematics import summarise
from bench.systematics_pool import STRIDE, pool


def _row(i: int, ts: float, kind: str = "track") -> dict[str, object]:
    return {"index": i, "kind": kind, "energy_tev": 50.0, "energy_proxy_tev": 50.0,
            "ts_truth": ts, "error_deg": 0.1, "wall_s": 1.0, "n_pulses": 100,
            "statistic": "profile"}


def test_parts_keep_their_order_and_name_their_realisation() -> None:
    a = [_row(1, 5.0), _row(0, 1.0), _row(100000, 9.0)]
    b = [_row(0, 2.0), _row(1, 3.0)]
    rows = pool([(18, a), (1821, b)])
    assert [(r["index"], r["realisation"], r["ts_truth"]) for r in rows] == [
        (0, 18, 1.0), (1, 18, 5.0), (100000, 18, 9.0),
        (STRIDE, 1821, 2.0), (STRIDE + 1, 1821, 3.0)]
    with pytest.raises(ValueError, match="index"):
        pool([(1, [_row(STRIDE, 1.0)])])


def test_pooled_thresholds_are_those_of_the_union() -> None:
    """Thirty events from each of two realisations: the 90 % threshold is the ⌈61 · 0.9⌉ =
    55th smallest of all sixty, and each parity half holds events of both."""
    rng = np.random.default_rng(3)
    a = [_row(i, float(v)) for i, v in enumerate(rng.exponential(10.0, 30))]
    b = [_row(i, float(v)) for i, v in enumerate(rng.exponential(30.0, 30))]
    rows = pool([(18, a), (1851, b)])
    out = summarise(rows, argparse.Namespace(seed=[18, 1851]))
    every = sorted(float(r["ts_truth"]) for r in a + b)  # type: ignore[arg-type]
    assert out["track"]["all"]["thresholds"]["0.9"] == every[54]
    ordered = sorted(rows, key=lambda r: int(r["index"]))
    for part in (0, 1):
        assert {r["realisation"] for r in ordered[part::2]} == {18, 1851}
