"""The probe of a synchronous TAP query (issue 15): a small query is answered whole in one
round trip with no EXPLAIN; a larger or slower one is planned, admitted and run as before.
Both paths must give the same documents, and leave the pooled connection as they found it."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from catalog.notices.parsed import NoticeRecord
from tests.vo.checks import read_votable
from vo.config import VoConfig
from vo.resultstream import PROBE_ROWS, PlanEstimate
from vo.service import TapService
from vo.storage import VoStorage

#: Small answers of every kind of column the alerts have: timestamps, NULLs, MOCs,
#: polygons, arrays of regions, a MAXREC cut, no row at all, an aggregate, a LIKE with %;
#: ordered, since the probe's LIMIT may change the plan and with it an unordered answer's
#: order.
SMALL = [
    ("SELECT TOP 7 name, ra, dec, event_time, energy FROM nufair.alerts "
     "ORDER BY dec DESC", {}),
    ("SELECT name, moc50, moc90, shape90, region90 FROM nufair.alerts WHERE "
     "1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 77.4, 5.7, 3)) ORDER BY name", {}),
    ("SELECT name FROM nufair.alerts WHERE "
     "1 = CONTAINS(POINT('ICRS', 77.36, 5.72), region90) ORDER BY name", {}),
    ("SELECT name, signalness, far, retracted FROM nufair.alerts WHERE name LIKE "
     "'IceCube-17%' ORDER BY name", {"MAXREC": "3"}),
    ("SELECT name FROM nufair.alerts WHERE dec > 95", {}),
    ("SELECT COUNT(*) AS n, AVG(dec) AS mean_dec FROM nufair.alerts WHERE moc50 IS NULL", {}),
    ("SELECT TOP 5 alert_id, name, 'it''s' AS quoted FROM nufair.alerts ORDER BY alert_id",
     {}),
]

FORMATS = ["votable", "votable/td", "csv", "tsv"]

def answer(service: TapService, query: str, extra: dict[str, str], fmt: str,
           admitted: list[PlanEstimate]) -> bytes:
    """The whole document of ``query`` (admissions recorded in ``admitted``)."""
    stream = service.open({"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": fmt, **extra},
                          {}, admit=admitted.append)
    try:
        return b"".join(stream.chunks())
    finally:
        stream.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_small_queries_answer_alike_without_explain(
        engine: Engine, alerts: list[NoticeRecord], fmt: str) -> None:
    """Each small query gives the same document by the probe (no admission asked) as by
    EXPLAIN, admission and a cursor (``probe_ms=0``)."""
    probed, planned = TapService(VoStorage(engine), VoConfig()), TapService(
        VoStorage(engine, probe_ms=0), VoConfig())
    for query, extra in SMALL:
        by_probe: list[PlanEstimate] = []
        by_plan: list[PlanEstimate] = []
        a = answer(probed, query, extra, fmt, by_probe)
        b = answer(planned, query, extra, fmt, by_plan)
        assert a == b, query
        assert by_probe == [] and len(by_plan) == 1, query


def test_probe_rows_are_the_alerts_imported(engine: Engine,
                                            spread: list[NoticeRecord]) -> None:
    """The probe's rows (unordered) are exactly the imported alerts that match."""
    admitted: list[PlanEstimate] = []
    service = TapService(VoStorage(engine), VoConfig())
    got = read_votable(answer(service, "SELECT name, dec FROM nufair.alerts WHERE dec > 40",
                              {}, "votable", admitted)).get_first_table().array
    want = sorted((r.name, r.dec) for r in spread if r.dec is not None and r.dec > 40)
    assert 0 < len(want) <= PROBE_ROWS and admitted == []
    assert sorted(zip(got["name"].tolist(), got["dec"].tolist(), strict=True)) == want


def test_a_large_answer_is_planned_and_admitted(engine: Engine,
                                                spread: list[NoticeRecord]) -> None:
    """More rows than the probe keeps: the query is planned and admitted (its estimate
    seen), then answered whole up to MAXREC."""
    service = TapService(VoStorage(engine), VoConfig())
    admitted: list[PlanEstimate] = []
    body = answer(service, "SELECT a.name, b.name AS other FROM nufair.alerts AS a, "
                  "nufair.alerts AS b", {"MAXREC": "1000"}, "csv", admitted)
    assert len(admitted) == 1 and admitted[0].rows > PROBE_ROWS
    assert body.count(b"\n") == 1 + 1000


def test_a_slow_query_is_planned_admitted_and_run_whole(
        engine: Engine, spread: list[NoticeRecord]) -> None:
    """Past the probe's timeout the query is not refused: it is planned, admitted and run
    again under the whole limit, and its answer is right (numpy's count of the pairs)."""
    query = ("SELECT COUNT(*) AS n FROM nufair.alerts AS a, nufair.alerts AS b WHERE "
             "DISTANCE(POINT('ICRS', a.ra, a.dec), POINT('ICRS', b.ra, b.dec)) < 10")
    service = TapService(VoStorage(engine, probe_ms=1), VoConfig())
    admitted: list[PlanEstimate] = []
    body = answer(service, query, {}, "csv", admitted)
    ra, dec = (np.radians([getattr(r, k) for r in spread]) for k in ("ra", "dec"))
    cos = (np.sin(dec)[:, None] * np.sin(dec)[None, :]
           + np.cos(dec)[:, None] * np.cos(dec)[None, :] * np.cos(ra[:, None] - ra[None, :]))
    want = int((np.degrees(np.arccos(np.clip(cos, -1, 1))) < 10).sum())
    assert want > len(spread)  # ~90 000 distances: far more than the 1 ms probe allows
    assert len(admitted) == 1
    assert body.decode().split() == ["n", str(want)]


def _session(conn: Any) -> tuple[Any, ...]:
    row = conn.execute(text(
        "SELECT current_user, current_setting('transaction_read_only'), "
        "current_setting('statement_timeout'), current_setting('work_mem')")).one()
    return tuple(row)


@pytest.mark.parametrize("probe_ms", [1, 100])
def test_the_pooled_connection_comes_back_as_it_was(
        db_url: str, spread: list[NoticeRecord], probe_ms: int) -> None:
    """After a probe, whether it answered or was cut by its timeout, the pool's one
    connection is idle, in its own role and settings, and not in autocommit."""
    one = create_engine(db_url, pool_size=1, max_overflow=0)
    try:
        with one.connect() as conn:
            before = _session(conn)
        service = TapService(VoStorage(one, probe_ms=probe_ms), VoConfig())
        answer(service, SMALL[0][0], {}, "csv", [])
        answer(service, "SELECT COUNT(*) AS n FROM nufair.alerts AS a, nufair.alerts AS b "
               "WHERE a.dec > b.dec", {}, "csv", [])
        answer(service, "SELECT a.name FROM nufair.alerts AS a, nufair.alerts AS b",
               {}, "csv", [])
        with one.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None and raw.autocommit is False
            assert _session(conn) == before
    finally:
        one.dispose()


def test_over_http_a_small_answer_is_sent_whole_and_a_large_one_streamed(
        live_url: str, engine: Engine, spread: list[NoticeRecord]) -> None:
    """Through the served app: a small answer comes whole (a Content-Length), byte for byte
    the service's; one past what is fetched first (``SMALL_ROWS``) is streamed (chunked),
    its MAXREC rows all there."""
    small = {"LANG": "ADQL", "QUERY": SMALL[0][0], "RESPONSEFORMAT": "votable"}
    with httpx.Client(timeout=60) as client:
        r = client.post(f"{live_url}/tap/sync", data=small)
        large = client.post(f"{live_url}/tap/sync", data={
            "LANG": "ADQL", "QUERY": "SELECT a.name, b.name AS other FROM nufair.alerts AS a, "
            "nufair.alerts AS b", "RESPONSEFORMAT": "csv", "MAXREC": "5000"})
    assert r.status_code == 200 and r.headers["content-length"] == str(len(r.content))
    direct = TapService(VoStorage(engine, base_url=live_url), VoConfig(base_url=live_url))
    assert r.content == direct.execute(small, {}).body
    assert large.status_code == 200 and "content-length" not in large.headers
    assert large.headers["transfer-encoding"] == "chunked"
    assert large.content.count(b"\n") == 1 + 5000
