"""Resource limits of the synchronous TAP service (issue 12): ADQL size, parse time and
depth, the parse cache, MAXREC, streamed answers and their time budget, concurrency slots,
unreadable parameters, error codes and the OpenAPI media types of the VO routes."""

from __future__ import annotations

import asyncio
import io
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import pyvo
from astropy.io.votable import parse as parse_votable
from astropy.io.votable import parse_single_table
from astropy.table import Table
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from catalog.handlers.events import STORAGE_STATE as CATALOG_STATE
from catalog.notices.parsed import NoticeRecord
from nufair.app import create_app
from nufair.settings import Settings
from tests.serving import base_url, free_socket, serving
from vo import api as vo_api
from vo.adql import parser
from vo.adql.parser import MAX_QUERY_CHARS, MAX_TREE_DEPTH, _TreeCache, parse
from vo.adql.translate import translate
from vo.config import VoConfig
from vo.errors import (
    AdqlError,
    BadParameter,
    LimitExceeded,
    NotFoundError,
    QueryFailed,
    ServiceBusy,
    UploadError,
    VoError,
)
from vo.formats.votable import error_votable
from vo.service import TapService
from vo.storage import VoStorage

ALERTS = "SELECT name FROM nufair.alerts WHERE "

#: Queries that overflowed Python's stack (RecursionError, a plain-text 500) before.
DEEP = {
    "1000 AND": ALERTS + " AND ".join(f"ra > {i}" for i in range(1000)),
    "1+1 x1000": "SELECT " + "+".join(["1"] * 1000) + " AS x FROM nufair.alerts",
    "500 subqueries": ALERTS + "ra > " + "(SELECT " * 500 + "1" + " FROM nufair.alerts)" * 500,
}


def _status(body: bytes) -> tuple[str, str | None]:
    """(last QUERY_STATUS value, the code INFO's value) of a VOTable document."""
    infos = list(_votable(body).resources[0].infos)
    status = [i.value for i in infos if i.name == "QUERY_STATUS"]
    code = next((i.value for i in infos if i.name == "code"), None)
    return status[-1], code


def _votable(body: bytes) -> Any:
    return parse_votable(io.BytesIO(body))


def _assert_refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("application/x-votable+xml")
    assert _status(r.content) == ("ERROR", code)


# --------------------------------------------------------------------- parser limits
@pytest.mark.parametrize("name", list(DEEP))
def test_deep_query_is_an_adql_limit_not_a_recursion_error(name: str) -> None:
    with pytest.raises(LimitExceeded, match="nested too deeply"):
        translate(DEEP[name])


def test_nesting_under_the_limit_still_translates() -> None:
    translate(ALERTS + " AND ".join(f"ra > {i}" for i in range(150)))
    translate(ALERTS + "ra > " + "(SELECT " * 20 + "1" + " FROM nufair.alerts)" * 20)
    assert MAX_TREE_DEPTH >= 100


def test_query_text_length_is_limited() -> None:
    with pytest.raises(LimitExceeded, match=str(MAX_QUERY_CHARS)):
        parse(ALERTS + "ra > 1" + " " * MAX_QUERY_CHARS)


def test_parse_time_is_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser, "MAX_PARSE_S", -1.0)
    text = ALERTS + " OR ".join(f"ra = {i}" for i in range(200))  # > 256 tokens
    with pytest.raises(LimitExceeded, match="to parse"):
        parser._parse(text)


def test_tree_cache_is_bounded_in_entries_and_size() -> None:
    cache = _TreeCache(entries=3, nodes=100)
    trees = {f"q{i}": parse(f"SELECT TOP {i} name FROM nufair.alerts") for i in range(6)}
    for text, tree in trees.items():
        cache.put(text, tree, 30)
    assert len(cache) == 3 and cache.get("q0") is None and cache.get("q5") is not None
    cache.put("big", trees["q0"], 90)  # pushes out all but itself
    assert len(cache) == 1 and cache.size == 90
    cache.put("huge", trees["q0"], 101)  # over the bound alone: not kept
    assert cache.get("huge") is None and cache.size == 90


def test_long_queries_are_not_cached() -> None:
    parser.CACHE.clear()
    long_text = ALERTS + "ra IN (" + ", ".join(str(i) for i in range(2000)) + ")"
    assert len(long_text) > parser.CACHE_MAX_CHARS
    parse(long_text)
    assert len(parser.CACHE) == 0
    parse("SELECT name FROM nufair.alerts")
    assert len(parser.CACHE) == 1 and parser.CACHE.size > 0


@pytest.mark.parametrize("order", ["99", "30", "-1", "2.5", "'x'"])
def test_healpix_index_order_must_be_0_to_29(order: str) -> None:
    with pytest.raises(AdqlError, match="order must be an integer from 0 to 29"):
        translate(f"SELECT ivo_healpix_index({order}, POINT('ICRS', ra, dec)) AS h "
                  "FROM nufair.alerts")


@pytest.mark.parametrize("args", ["30, 0", "-1, 0", "3, 768", "3, -1"])
def test_healpix_center_cell_must_exist(args: str) -> None:
    with pytest.raises(AdqlError, match="no such HEALPix cell"):
        translate(f"SELECT ivo_healpix_center({args}) AS c FROM nufair.alerts")


def test_healpix_index_with_a_column_order_is_null_out_of_range(
        engine: Engine, alerts: list[NoticeRecord]) -> None:
    vo = VoStorage(engine)
    tr = translate("SELECT ivo_healpix_index(CAST(ra AS INTEGER) - 70, POINT('ICRS', ra, dec))"
                   " AS h, ivo_healpix_index(0, POINT('ICRS', ra, dec)) AS h0, ra "
                   "FROM nufair.alerts", maxrec=100)
    for h, h0, ra in vo.run(tr, 100).rows:
        order = round(ra) - 70
        assert (h is None) == (not 0 <= order <= 29)
        assert 0 <= h0 < 12


# ----------------------------------------------------------------------- error codes
def test_every_error_class_has_its_own_code() -> None:
    classes = [VoError, AdqlError, QueryFailed, UploadError, BadParameter, LimitExceeded,
               ServiceBusy, NotFoundError]
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes)
    assert AdqlError.code == "adql_syntax" and LimitExceeded.code == "limit_exceeded"
    assert ServiceBusy.status == 503 and NotFoundError.status == 404


def test_error_document_keeps_query_status_for_pyvo() -> None:
    body = error_votable("no <such> table", "not_found")
    assert _status(body) == ("ERROR", "not_found")
    assert b'<INFO name="QUERY_STATUS" value="ERROR">no &lt;such&gt; table</INFO>' in body


# ---------------------------------------------------------------- streamed answers
def _upload(n: int) -> bytes:
    buf = io.BytesIO()
    Table({"k": np.arange(n), "s": [f"name {i}" for i in range(n)]}).write(
        buf, format="votable")
    return buf.getvalue()


CROSS = "SELECT a.k, b.k AS k2, a.s, b.s AS s2 FROM TAP_UPLOAD.t AS a, TAP_UPLOAD.t AS b"


@pytest.mark.parametrize("fmt", ["votable/td", "votable", "csv"])
def test_streamed_answer_memory_stays_flat(engine: Engine, fmt: str) -> None:
    """90 000 rows (~4–6 MB of document) are written holding about one batch of rows."""
    service = TapService(VoStorage(engine), VoConfig())
    stream = service.open({"LANG": "ADQL", "QUERY": CROSS, "UPLOAD": "t,param:t",
                           "RESPONSEFORMAT": fmt, "MAXREC": "1000000"}, {"t": _upload(300)})
    size = 0
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for chunk in stream.chunks():
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        stream.close()
    assert stream.rows == 90_000 and not stream.overflow
    assert size > 2_000_000
    assert peak < size / 4, (peak, size)


def test_streamed_votable_reads_back_whole(engine: Engine) -> None:
    service = TapService(VoStorage(engine), VoConfig())
    for fmt in ("votable", "votable/td"):
        out = service.execute({"LANG": "ADQL", "QUERY": CROSS + " ORDER BY a.k, b.k",
                               "UPLOAD": "t,param:t", "RESPONSEFORMAT": fmt,
                               "MAXREC": "2500"}, {"t": _upload(60)})
        arr = parse_single_table(io.BytesIO(out.body)).array
        assert len(arr) == 2500 and out.rows == 2500 and out.overflow
        assert [int(x) for x in arr["k2"][:3]] == [0, 1, 2] and int(arr["k"][-1]) == 41
        assert _status(out.body)[0] == "OVERFLOW"


@pytest.mark.parametrize("fmt", ["votable", "votable/td"])
def test_time_budget_ends_a_votable_with_an_error_info(engine: Engine, fmt: str) -> None:
    service = TapService(VoStorage(engine), VoConfig())
    params = {"LANG": "ADQL", "QUERY": CROSS, "UPLOAD": "t,param:t", "RESPONSEFORMAT": fmt}
    stream = service.open(params, {"t": _upload(100)})
    stream.deadline = 0.0  # the budget is spent once the first batch is written
    try:
        body = b"".join(stream.chunks())
    finally:
        stream.close()
    assert 0 < stream.rows < 100 * 100  # the first batch
    assert _status(body)[0] == "ERROR"
    assert len(parse_single_table(io.BytesIO(body)).array) == stream.rows
    with pytest.raises(pyvo.DALQueryError, match="time limit"):
        pyvo.dal.TAPResults(_votable(body))  # pyvo reads the last QUERY_STATUS


def test_time_budget_cuts_csv_off_and_fails_async_jobs(engine: Engine) -> None:
    service = TapService(VoStorage(engine), VoConfig())
    for fmt, strict in (("csv", False), ("votable", True)):
        stream = service.open({"LANG": "ADQL", "QUERY": CROSS, "UPLOAD": "t,param:t",
                               "RESPONSEFORMAT": fmt}, {"t": _upload(100)}, strict=strict)
        stream.deadline = 0.0
        try:
            with pytest.raises(LimitExceeded, match="time limit"):
                b"".join(stream.chunks())
        finally:
            stream.close()


def test_stream_gives_its_connection_back(engine: Engine) -> None:
    vo = VoStorage(engine)
    service = TapService(vo, VoConfig())
    before = engine.pool.checkedout()  # type: ignore[attr-defined]
    for _ in range(3):
        stream = service.open({"LANG": "ADQL", "QUERY": CROSS, "UPLOAD": "t,param:t"},
                              {"t": _upload(100)})
        next(stream.chunks())  # abandoned part way
        assert engine.pool.checkedout() == before + 1  # type: ignore[attr-defined]
        stream.close()
        assert engine.pool.checkedout() == before  # type: ignore[attr-defined]


# ------------------------------------------------------------------------- live app
@pytest.fixture
def app_with(db_url: str, tmp_path: Path) -> Iterator[Any]:
    """A factory: the real app served with the given VoConfig fields; yields (url, app)."""
    with ExitStack() as running:

        def start(**cfg: Any) -> tuple[str, FastAPI]:
            sock = free_socket()
            url = base_url(sock)
            app = create_app(Settings(database_url=SecretStr(db_url), data_dir=tmp_path,
                                      environment="development", public_base_url=url))
            setattr(app.state, vo_api.CONFIG_STATE, VoConfig(base_url=url, **cfg))
            return running.enter_context(serving(app, sock)), app

        yield start


@pytest.mark.parametrize("name", list(DEEP))
def test_deep_query_over_http_is_a_400_votable(live_url: str, name: str) -> None:
    r = httpx.post(f"{live_url}/tap/sync", data={"LANG": "ADQL", "QUERY": DEEP[name]})
    _assert_refused(r, 400, "limit_exceeded")


def test_long_query_over_http_is_a_400_votable(live_url: str) -> None:
    r = httpx.post(f"{live_url}/tap/sync",
                   data={"LANG": "ADQL", "QUERY": ALERTS + "ra > 1" + " " * 70_000})
    _assert_refused(r, 400, "limit_exceeded")


def test_pyvo_sees_limit_errors(live_url: str) -> None:
    tap = pyvo.dal.TAPService(f"{live_url}/tap")
    with pytest.raises(pyvo.DALQueryError, match="nested too deeply"):
        tap.search(DEEP["1000 AND"])
    with pytest.raises(pyvo.DALQueryError, match="order must be an integer"):
        tap.search("SELECT ivo_healpix_index(30, POINT('ICRS', ra, dec)) FROM nufair.alerts")


@pytest.mark.parametrize("where", ["query", "maxrec", "runid", "literal", "name", "lang"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_nul_bytes_are_a_400_votable(live_url: str, alerts: list[NoticeRecord], where: str,
                                     method: str) -> None:
    params = {"LANG": "ADQL", "QUERY": "SELECT name FROM nufair.alerts"}
    if where == "query":
        params["QUERY"] += "\x00"
    elif where == "literal":
        params["QUERY"] += " WHERE name = 'a\x00b'"
    elif where == "name":
        params["X\x00Y"] = "1"
    else:
        params[where.upper()] = "1\x00"
    if method == "GET":
        r = httpx.get(f"{live_url}/tap/sync", params=params)
    else:
        r = httpx.post(f"{live_url}/tap/sync", data=params)
    _assert_refused(r, 400, "bad_parameter")


def test_invalid_utf8_and_surrogates_are_4xx_votables(live_url: str,
                                                       alerts: list[NoticeRecord]) -> None:
    base = f"{live_url}/tap/sync?LANG=ADQL&QUERY=SELECT%20name%20FROM%20nufair.alerts"
    for suffix in ("%ED%A0%80", "%FF%FE", "%C0%80"):
        r = httpx.get(base + "%20WHERE%20name%20%3D%20%27" + suffix + "%27")
        assert r.status_code in (200, 400), r.text[:300]
        assert _status(r.content)[0] in ("OK", "ERROR")
    # A multipart text field with a UTF-8-encoded surrogate and a NUL.
    for raw in (b"SELECT name FROM nufair.alerts WHERE name = '\xed\xa0\x80'",
                b"SELECT name FROM nufair.alerts\x00"):
        r = httpx.post(f"{live_url}/tap/sync", data={"LANG": "ADQL"},
                       files={"QUERY": (None, raw)})
        assert 400 <= r.status_code < 500 or r.status_code == 200, r.text[:300]
        assert _status(r.content)[0] in ("OK", "ERROR")


def test_nul_bytes_elsewhere_in_vo(live_url: str, alerts: list[NoticeRecord]) -> None:
    r = httpx.get(f"{live_url}/scs", params={"RA": "77.4\x00", "DEC": "5", "SR": "1"})
    assert r.status_code == 200 and b'value="ERROR"' in r.content  # SCS 1.03 errors
    r = httpx.get(f"{live_url}/datalink", params={"ID": "ivo://nufair/alerts?1\x00"})
    _assert_refused(r, 400, "bad_parameter")
    r = httpx.get(f"{live_url}/datalink/moc", params={"ID": "ivo://nufair/alerts?1\x00"})
    _assert_refused(r, 400, "bad_parameter")
    r = httpx.get(f"{live_url}/tap/tables/nope%00")  # refused at the edge, before routing
    _assert_refused(r, 400, "invalid_character")


def test_healpix_over_http(live_url: str, alerts: list[NoticeRecord]) -> None:
    q = "SELECT ivo_healpix_index({}, POINT('ICRS', ra, dec)) AS h FROM nufair.alerts"
    r = httpx.post(f"{live_url}/tap/sync", data={"LANG": "ADQL", "QUERY": q.format(99)})
    _assert_refused(r, 400, "adql_syntax")
    r = httpx.post(f"{live_url}/tap/sync", data={"LANG": "ADQL", "QUERY": q.format(3),
                                                 "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200
    assert all(0 <= int(v) < 12 * 4**3 for v in r.text.split()[1:])


def test_openapi_declares_votable_not_json(live_url: str) -> None:
    doc = httpx.get(f"{live_url}/openapi.json").json()
    for path, method in (("/tap/sync", "get"), ("/tap/sync", "post"), ("/scs", "get"),
                         ("/tap/capabilities", "get"), ("/tap/tables", "get"),
                         ("/datalink", "get"), ("/datalink/moc", "get")):
        responses = doc["paths"][path][method]["responses"]
        for status, answer in responses.items():
            content = answer.get("content", {})
            assert "application/json" not in content, (path, status)
        assert responses["200"]["content"], path
    sync = doc["paths"]["/tap/sync"]["post"]["responses"]
    assert "application/x-votable+xml" in sync["200"]["content"]
    assert "application/x-votable+xml" in sync["400"]["content"]
    assert "503" in sync
    assert "text/xml" in doc["paths"]["/tap/capabilities"]["get"]["responses"]["200"]["content"]


def test_capabilities_report_the_row_limits_used(app_with: Any,
                                                 alerts: list[NoticeRecord]) -> None:
    url, _ = app_with(default_maxrec=3, max_rows=4)
    caps = httpx.get(f"{url}/tap/capabilities").text
    assert '<default unit="row">3</default>' in caps and '<hard unit="row">4</hard>' in caps
    tap = pyvo.dal.TAPService(f"{url}/tap")
    assert tap.maxrec == 3 and tap.hardlimit == 4
    r = httpx.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT name FROM "
                                            "nufair.alerts", "RESPONSEFORMAT": "votable/td"})
    assert len(parse_single_table(io.BytesIO(r.content)).array) == 3
    assert _status(r.content)[0] == "OVERFLOW"
    with pytest.warns(pyvo.dal.DALOverflowWarning):  # cut at the hard cap
        result = tap.search("SELECT name FROM nufair.alerts", maxrec=100)
    assert len(result) == 4 and result.status[0] == "OVERFLOW"


def test_sync_queries_over_the_slots_answer_503(app_with: Any,
                                               alerts: list[NoticeRecord]) -> None:
    url, app = app_with(sync_slots=0, sync_queue_s=0.2)
    r = httpx.post(f"{url}/tap/sync", data={"LANG": "ADQL",
                                            "QUERY": "SELECT name FROM nufair.alerts"})
    _assert_refused(r, 503, "service_busy")
    assert r.headers["retry-after"] == str(vo_api.RETRY_AFTER_S)
    with pytest.raises(pyvo.DALQueryError, match="slots are busy"):
        pyvo.dal.TAPService(f"{url}/tap").search("SELECT name FROM nufair.alerts")
    # Cone search and DataLink do not take a TAP slot.
    r = httpx.get(f"{url}/scs", params={"RA": "77.43", "DEC": "5.72", "SR": "1"})
    assert r.status_code == 200 and b"IceCube-170922A" in r.content
    # The VO layer reads on an engine of its own, apart from the REST API's (catalog).
    vo_engine = getattr(app.state, vo_api.STORAGE_STATE).engine
    assert vo_engine is not getattr(app.state, CATALOG_STATE).engine


def test_slots_are_given_back_however_the_answer_ends(app_with: Any, engine: Engine,
                                                      alerts: list[NoticeRecord]) -> None:
    url, app = app_with(sync_slots=1, sync_queue_s=2.0)
    params = {"LANG": "ADQL", "QUERY": CROSS, "UPLOAD": "t,param:t", "MAXREC": "1000000"}
    files = {"t": ("t.xml", _upload(300))}
    with httpx.Client(timeout=30) as client:
        # A client that reads a little of a large answer and goes away.
        with client.stream("POST", f"{url}/tap/sync", data=params, files=files) as r:
            assert r.status_code == 200
            next(r.iter_bytes())
        for _ in range(3):  # each waits for the slot the previous one gave back
            r = client.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT name "
                                                     "FROM nufair.alerts"})
            assert r.status_code == 200 and _status(r.content)[0] == "OK"
        r = client.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT nope"})
        _assert_refused(r, 400, "adql_syntax")
        r = client.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT name "
                                                 "FROM nufair.alerts"})
        assert r.status_code == 200
    deadline = time.monotonic() + 10
    while vo_api.sync_slots(app).free != (1, 4) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert vo_api.sync_slots(app).free == (1, 4)


def test_slots_queue_then_refuse() -> None:
    async def scenario() -> list[str]:
        slots = vo_api.SyncSlots(2, 1, 1000.0, 0.1)
        first, _ = await slots.enter(), await slots.enter()
        out = []
        try:
            await slots.enter()
        except ServiceBusy as exc:
            out.append(exc.code)
        waiter = asyncio.create_task(slots.enter())
        await asyncio.sleep(0.01)
        first.leave()  # a slot freed while one waits: the waiter gets it
        third = await waiter
        out.append("got")
        await third.admit_heavy()
        try:
            await first.admit_heavy()
        except ServiceBusy as exc:
            out.append("heavy " + exc.code)
        third.leave()
        third.leave()  # once only
        out.append(str(slots.free))
        return out

    assert asyncio.run(scenario()) == ["service_busy", "got", "heavy service_busy", "(1, 1)"]


def test_heavy_queries_do_not_take_the_slots_of_small_ones(
        app_with: Any, alerts: list[NoticeRecord]) -> None:
    url, app = app_with(sync_slots=4, heavy_slots=1, heavy_bytes=4e6, sync_queue_s=0.5)
    heavy = {"LANG": "ADQL", "QUERY": CROSS, "UPLOAD": "t,param:t", "MAXREC": "1000000",
             "RESPONSEFORMAT": "votable/td"}
    files = {"t": ("t.xml", _upload(1000))}  # 1 000 000 rows: the answer cannot be sent
    small = {"LANG": "ADQL", "QUERY": "SELECT name FROM nufair.alerts"}
    with httpx.Client(timeout=30) as client, httpx.Client(timeout=30) as other, \
            client.stream("POST", f"{url}/tap/sync", data=heavy, files=files) as r:
        assert r.status_code == 200
        chunks = r.iter_bytes()  # kept: an iterator dropped closes the connection
        next(chunks)  # the heavy query runs, holding the heavy slot
        assert vo_api.sync_slots(app).free == (3, 0)
        second = other.post(f"{url}/tap/sync", data=heavy, files=files)
        _assert_refused(second, 503, "service_busy")
        assert "heavy" in second.text
        for _ in range(5):  # small queries still run at once
            r2 = other.post(f"{url}/tap/sync", data=small)
            assert r2.status_code == 200 and _status(r2.content)[0] == "OK"
    deadline = time.monotonic() + 10
    while vo_api.sync_slots(app).free != (4, 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert vo_api.sync_slots(app).free == (4, 1)


def test_a_client_that_does_not_read_loses_its_slot(app_with: Any, alerts: list[NoticeRecord],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vo_api, "SEND_GRACE_S", 0.5)
    url, app = app_with(sync_slots=1, timeout_s=2.0)
    params = {"LANG": "ADQL", "QUERY": CROSS, "UPLOAD": "t,param:t", "MAXREC": "1000000",
              "RESPONSEFORMAT": "votable/td"}
    with httpx.Client(timeout=30) as client, \
            client.stream("POST", f"{url}/tap/sync", data=params,
                          files={"t": ("t.xml", _upload(1000))}) as r:
        chunks = r.iter_bytes()
        next(chunks)  # then reads no more, and stays connected
        assert vo_api.sync_slots(app).free[0] == 0
        deadline = time.monotonic() + 15
        while vo_api.sync_slots(app).free[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert vo_api.sync_slots(app).free[0] == 1
        small = httpx.post(f"{url}/tap/sync", data={"LANG": "ADQL",
                                                    "QUERY": "SELECT name FROM nufair.alerts"})
        assert small.status_code == 200
        with pytest.raises(httpx.HTTPError):  # the answer was cut off, not completed
            for _ in chunks:
                pass


def test_fetches_run_with_what_is_left_of_the_budget(engine: Engine) -> None:
    service = TapService(VoStorage(engine, timeout_s=30.0), VoConfig())
    stream = service.open({"LANG": "ADQL", "QUERY": CROSS, "UPLOAD": "t,param:t"},
                          {"t": _upload(100)})
    try:
        stream.result.deadline = time.monotonic() + 5.0
        stream.result._shorten_timeout()
        row = stream.result._conn.execute(
            "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'").fetchone()
        assert row is not None and 4000 <= int(row[0]) <= 5000
        body = b"".join(stream.chunks())  # the answer still completes within its budget
        assert stream.rows == 10_000 and _status(body)[0] == "OK"
    finally:
        stream.close()
