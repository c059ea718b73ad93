"""Limits of the synchronous TAP service over HTTP (issue 12): refusals as VOTable errors
with their codes, unreadable parameters, the row limits in use, the concurrency slots and
their heavy share, and answers a client does not take."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import httpx
import pytest
import pyvo
from astropy.io.votable import parse_single_table
from sqlalchemy.engine import Engine

from catalog.notices.parsed import NoticeRecord
from tests.vo.checks import ALERTS, CROSS, DEEP, assert_refused, status_of, upload_table
from vo import api as vo_api
from vo.context import VoHost, context_of
from vo.errors import RETRY_AFTER_S, ServiceBusy
from vo.slots import SyncSlots


def free_slots(app: VoHost) -> tuple[int, int]:
    """(free slots, free heavy slots) of the synchronous queries of a running ``app``."""
    return context_of(app).slots.free


@pytest.mark.parametrize("name", list(DEEP))
def test_deep_query_over_http_is_a_400_votable(live_url: str, name: str) -> None:
    """A too deeply nested query is a 400 VOTable with code limit_exceeded."""
    r = httpx.post(f"{live_url}/tap/sync", data={"LANG": "ADQL", "QUERY": DEEP[name]})
    assert_refused(r, 400, "limit_exceeded")


def test_long_query_over_http_is_a_400_votable(live_url: str) -> None:
    """A too long query is a 400 VOTable with code limit_exceeded."""
    r = httpx.post(f"{live_url}/tap/sync",
                   data={"LANG": "ADQL", "QUERY": ALERTS + "ra > 1" + " " * 70_000})
    assert_refused(r, 400, "limit_exceeded")


def test_pyvo_sees_limit_errors(live_url: str) -> None:
    """pyvo raises DALQueryError with the reason of a refused query."""
    tap = pyvo.dal.TAPService(f"{live_url}/tap")
    with pytest.raises(pyvo.DALQueryError, match="nested too deeply"):
        tap.search(DEEP["1000 AND"])
    with pytest.raises(pyvo.DALQueryError, match="order must be an integer"):
        tap.search("SELECT ivo_healpix_index(30, POINT('ICRS', ra, dec)) FROM nufair.alerts")


@pytest.mark.parametrize("where", ["query", "maxrec", "runid", "literal", "name", "lang"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_nul_bytes_are_a_400_votable(live_url: str, alerts: list[NoticeRecord], where: str,
                                     method: str) -> None:
    """A NUL byte in any TAP parameter is a 400 VOTable with code bad_parameter."""
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
    assert_refused(r, 400, "bad_parameter")


def test_invalid_utf8_and_surrogates_are_4xx_votables(live_url: str,
                                                       alerts: list[NoticeRecord]) -> None:
    """Invalid UTF-8 and surrogates in a query give a VOTable answer, never a 500."""
    base = f"{live_url}/tap/sync?LANG=ADQL&QUERY=SELECT%20name%20FROM%20nufair.alerts"
    for suffix in ("%ED%A0%80", "%FF%FE", "%C0%80"):
        r = httpx.get(base + "%20WHERE%20name%20%3D%20%27" + suffix + "%27")
        assert r.status_code in (200, 400), r.text[:300]
        assert status_of(r.content)[0] in ("OK", "ERROR")
    # A multipart text field with a UTF-8-encoded surrogate and a NUL.
    for raw in (b"SELECT name FROM nufair.alerts WHERE name = '\xed\xa0\x80'",
                b"SELECT name FROM nufair.alerts\x00"):
        r = httpx.post(f"{live_url}/tap/sync", data={"LANG": "ADQL"},
                       files={"QUERY": (None, raw)})
        assert 400 <= r.status_code < 500 or r.status_code == 200, r.text[:300]
        assert status_of(r.content)[0] in ("OK", "ERROR")


def test_nul_bytes_elsewhere_in_vo(live_url: str, alerts: list[NoticeRecord]) -> None:
    """NUL bytes in SCS and DataLink parameters are refused in each one's shape."""
    r = httpx.get(f"{live_url}/scs", params={"RA": "77.4\x00", "DEC": "5", "SR": "1"})
    assert r.status_code == 200 and b'value="ERROR"' in r.content  # SCS 1.03 errors
    r = httpx.get(f"{live_url}/datalink", params={"ID": "ivo://nufair/alerts?1\x00"})
    assert_refused(r, 400, "bad_parameter")
    r = httpx.get(f"{live_url}/datalink/moc", params={"ID": "ivo://nufair/alerts?1\x00"})
    assert_refused(r, 400, "bad_parameter")
    r = httpx.get(f"{live_url}/tap/tables/nope%00")  # refused at the edge, before routing
    assert_refused(r, 400, "invalid_character")


def test_healpix_over_http(live_url: str, alerts: list[NoticeRecord]) -> None:
    """HEALPix functions over HTTP: a bad order is refused, a good one answers."""
    q = "SELECT ivo_healpix_index({}, POINT('ICRS', ra, dec)) AS h FROM nufair.alerts"
    r = httpx.post(f"{live_url}/tap/sync", data={"LANG": "ADQL", "QUERY": q.format(99)})
    assert_refused(r, 400, "adql_syntax")
    r = httpx.post(f"{live_url}/tap/sync", data={"LANG": "ADQL", "QUERY": q.format(3),
                                                 "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200
    assert all(0 <= int(v) < 12 * 4**3 for v in r.text.split()[1:])


def test_openapi_declares_votable_not_json(live_url: str) -> None:
    """The OpenAPI document declares VOTable and XML answers on the VO routes."""
    doc = httpx.get(f"{live_url}/openapi.json").json()
    for path, method in (("/tap/sync", "get"), ("/tap/sync", "post"), ("/scs", "get"),
                         ("/tap/capabilities", "get"), ("/tap/tables", "get"),
                         ("/datalink", "get"), ("/datalink/moc", "get")):
        responses = doc["paths"][path][method]["responses"]
        for status, answer in responses.items():
            content = answer.get("content", {})
            if (path, status) != ("/datalink/moc", "200"):  # a MOC has a JSON form (MOC 2.0)
                assert "application/json" not in content, (path, status)
        assert responses["200"]["content"], path
    sync = doc["paths"]["/tap/sync"]["post"]["responses"]
    assert "application/x-votable+xml" in sync["200"]["content"]
    assert "application/x-votable+xml" in sync["400"]["content"]
    assert "503" in sync
    assert "text/xml" in doc["paths"]["/tap/capabilities"]["get"]["responses"]["200"]["content"]


def test_capabilities_report_the_row_limits_used(app_with: Any,
                                                 alerts: list[NoticeRecord]) -> None:
    """The capabilities state the row limits the service applies, and pyvo sees them."""
    url, _ = app_with(default_maxrec=3, max_rows=4)
    caps = httpx.get(f"{url}/tap/capabilities").text
    assert '<default unit="row">3</default>' in caps and '<hard unit="row">4</hard>' in caps
    tap = pyvo.dal.TAPService(f"{url}/tap")
    assert tap.maxrec == 3 and tap.hardlimit == 4
    r = httpx.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT name FROM "
                                            "nufair.alerts", "RESPONSEFORMAT": "votable/td"})
    assert len(parse_single_table(io.BytesIO(r.content)).array) == 3
    assert status_of(r.content)[0] == "OVERFLOW"
    with pytest.warns(pyvo.dal.DALOverflowWarning):  # cut at the hard cap
        result = tap.search("SELECT name FROM nufair.alerts", maxrec=100)
    assert len(result) == 4 and result.status[0] == "OVERFLOW"


def test_sync_queries_over_the_slots_answer_503(app_with: Any,
                                               alerts: list[NoticeRecord]) -> None:
    """With every slot taken a sync query is a 503 service_busy with Retry-After."""
    url, app = app_with(sync_slots=0, sync_queue_s=0.2)
    r = httpx.post(f"{url}/tap/sync", data={"LANG": "ADQL",
                                            "QUERY": "SELECT name FROM nufair.alerts"})
    assert_refused(r, 503, "service_busy")
    assert r.headers["retry-after"] == str(RETRY_AFTER_S)
    with pytest.raises(pyvo.DALQueryError, match="slots are busy"):
        pyvo.dal.TAPService(f"{url}/tap").search("SELECT name FROM nufair.alerts")
    # Cone search and DataLink do not take a TAP slot.
    r = httpx.get(f"{url}/scs", params={"RA": "77.43", "DEC": "5.72", "SR": "1"})
    assert r.status_code == 200 and b"IceCube-170922A" in r.content
    # The VO layer reads on an engine of its own, apart from the REST API's (catalog).
    vo = context_of(app)
    assert vo.storage.engine is not vo.jobs.storage.engine  # the catalog's engine


def test_slots_are_given_back_however_the_answer_ends(app_with: Any, engine: Engine,
                                                      alerts: list[NoticeRecord]) -> None:
    """Slots come back after a client leaves mid-answer, a refusal and a success."""
    url, app = app_with(sync_slots=1, sync_queue_s=2.0)
    params = {"LANG": "ADQL", "QUERY": CROSS, "UPLOAD": "t,param:t", "MAXREC": "1000000"}
    files = {"t": ("t.xml", upload_table(300))}
    with httpx.Client(timeout=30) as client:
        # A client that reads a little of a large answer and goes away.
        with client.stream("POST", f"{url}/tap/sync", data=params, files=files) as r:
            assert r.status_code == 200
            next(r.iter_bytes())
        for _ in range(3):  # each waits for the slot the previous one gave back
            r = client.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT name "
                                                     "FROM nufair.alerts"})
            assert r.status_code == 200 and status_of(r.content)[0] == "OK"
        r = client.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT nope"})
        assert_refused(r, 400, "adql_syntax")
        r = client.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT name "
                                                 "FROM nufair.alerts"})
        assert r.status_code == 200
    deadline = time.monotonic() + 10
    while free_slots(app) != (1, 4) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert free_slots(app) == (1, 4)


def test_slots_queue_then_refuse() -> None:
    """A query waits for a slot, then is refused; a heavy slot is taken once."""
    async def scenario() -> list[str]:
        slots = SyncSlots(2, 1, 1000.0, 0.1)
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
    """A second heavy query is refused while small queries still run at once."""
    url, app = app_with(sync_slots=4, heavy_slots=1, heavy_bytes=4e6, sync_queue_s=0.5)
    heavy = {"LANG": "ADQL", "QUERY": CROSS, "UPLOAD": "t,param:t", "MAXREC": "1000000",
             "RESPONSEFORMAT": "votable/td"}
    files = {"t": ("t.xml", upload_table(1000))}  # 1 000 000 rows: the answer cannot be sent
    small = {"LANG": "ADQL", "QUERY": "SELECT name FROM nufair.alerts"}
    with httpx.Client(timeout=30) as client, httpx.Client(timeout=30) as other, \
            client.stream("POST", f"{url}/tap/sync", data=heavy, files=files) as r:
        assert r.status_code == 200
        chunks = r.iter_bytes()  # kept: an iterator dropped closes the connection
        next(chunks)  # the heavy query runs, holding the heavy slot
        assert free_slots(app) == (3, 0)
        second = other.post(f"{url}/tap/sync", data=heavy, files=files)
        assert_refused(second, 503, "service_busy")
        assert "heavy" in second.text
        for _ in range(5):  # small queries still run at once
            r2 = other.post(f"{url}/tap/sync", data=small)
            assert r2.status_code == 200 and status_of(r2.content)[0] == "OK"
    deadline = time.monotonic() + 10
    while free_slots(app) != (4, 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert free_slots(app) == (4, 1)


def test_a_client_that_does_not_read_loses_its_slot(app_with: Any, alerts: list[NoticeRecord],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that stops reading loses its slot after the grace period."""
    monkeypatch.setattr(vo_api, "SEND_GRACE_S", 0.5)
    url, app = app_with(sync_slots=1, timeout_s=2.0)
    params = {"LANG": "ADQL", "QUERY": CROSS, "UPLOAD": "t,param:t", "MAXREC": "1000000",
              "RESPONSEFORMAT": "votable/td"}
    with httpx.Client(timeout=30) as client, \
            client.stream("POST", f"{url}/tap/sync", data=params,
                          files={"t": ("t.xml", upload_table(1000))}) as r:
        chunks = r.iter_bytes()
        next(chunks)  # then reads no more, and stays connected
        assert free_slots(app)[0] == 0
        deadline = time.monotonic() + 15
        while free_slots(app)[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert free_slots(app)[0] == 1
        small = httpx.post(f"{url}/tap/sync", data={"LANG": "ADQL",
                                                    "QUERY": "SELECT name FROM nufair.alerts"})
        assert small.status_code == 200
        with pytest.raises(httpx.HTTPError):  # the answer was cut off, not completed
            for _ in chunks:
                pass
