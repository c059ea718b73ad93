"""Issue 15 item 4: async worth its name — each mode has its own execution limit, the
capabilities state the async one, and a query past a limit is told which limit it was.

The client is pyvo (sync ``search``, ``run_async``, the capabilities reader); the expected
count of the slow query is computed here, in Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import pyvo
from astropy.table import Table

from catalog.notices.parsed import NoticeRecord
from vo.config import VoConfig

#: Rows of the uploaded table; the self-join compares N² pairs of texts (~0.5 s in
#: PostgreSQL, measured): past a 0.1 s synchronous limit, well within a 60 s async one.
N = 2000
SLOW = "SELECT COUNT(*) AS n FROM TAP_UPLOAD.t AS a, TAP_UPLOAD.t AS b WHERE a.s < b.s"


def _table(n: int = N) -> Table:
    return Table({"k": np.arange(n), "s": [f"name {i:05d}" for i in range(n)]})


def _execution_duration(url: str) -> tuple[int, int]:
    """(default, hard) executionDuration of the TAP capability, read by pyvo."""
    tap = pyvo.dal.TAPService(url + "/tap")
    (cap,) = [c for c in tap.capabilities if c.standardid == "ivo://ivoa.net/std/TAP"]
    duration = cap.executionduration
    return int(duration.default), int(duration.hard)


def test_defaults_give_async_at_least_ten_minutes(live_url: str) -> None:
    """By default an async job may run 10 minutes or more, a sync query 30 s."""
    assert VoConfig().timeout_s == 30.0
    assert _execution_duration(live_url) == (600, 600)


def test_a_query_too_slow_for_sync_runs_as_a_job(app_with: Any,
                                                 alerts: list[NoticeRecord]) -> None:
    """A query past the sync limit is refused naming that limit; the same query as an
    async job, under the async limit, completes with the right answer."""
    url, _ = app_with(timeout_s=0.1, async_timeout_s=60.0)
    assert _execution_duration(url) == (60, 60)
    tap = pyvo.dal.TAPService(url + "/tap")
    with pytest.raises(pyvo.DALQueryError, match=r"time limit of 0\.1 s.*/tap/async"):
        tap.search(SLOW, uploads={"t": _table()})
    res = tap.run_async(SLOW, uploads={"t": _table()})
    assert int(res["n"][0]) == N * (N - 1) // 2  # every pair of distinct texts, once


def test_an_async_job_past_its_own_limit_says_so(app_with: Any,
                                                 alerts: list[NoticeRecord]) -> None:
    """A job running past the async limit (1 s here; 9× the pairs of the query above,
    ~4 s) ends in ERROR, its error naming the limit."""
    url, _ = app_with(timeout_s=0.1, async_timeout_s=1.0)
    tap = pyvo.dal.TAPService(url + "/tap")
    job = tap.submit_job(SLOW, uploads={"t": _table(3 * N)})
    try:
        assert job.execution_duration.sec == 1
        job.run().wait(timeout=60)
        assert job.phase == "ERROR"
        with pytest.raises(pyvo.DALQueryError, match=r"time limit of 1 s"):
            job.raise_if_error()
    finally:
        job.delete()
