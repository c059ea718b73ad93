"""Issue 12: TAP async (UWS) jobs have owners, caps and bounds, and a WAIT freezes nobody.

Each test reproduces one finding of the issue against the real app on PostgreSQL and shows
it held: WAITs that hold no worker thread (and are capped), owner isolation, the per-owner
and global caps, DESTRUCTION/EXECUTIONDURATION clamps, the result size bound, fair
scheduling; hostile ids and parameters are ``test_uws_hostile``'s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select
from sqlalchemy.engine import Engine

from catalog.notices.parsed import NoticeRecord
from nufair.settings import Settings, hash_token
from tests.serving import serving
from tests.vo.jobs import (
    NS,
    QUERY,
    Answer,
    is_votable_error,
    job_id,
    jobs_of,
    make_app,
    phase_of,
    submit,
)
from vo.service import TapResult
from vo.uws.policy import Caller, JobLimits, JobPolicy
from vo.uws.schema import uws_jobs
from vo.uws.service import JobService
from vo.uws.storage import Job, UwsStorage

ALICE, BOB = "alice-token", "bob-token"



def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


def with_tokens(settings: Settings) -> Settings:
    """``settings`` that know two more tokens, Alice's and Bob's."""
    return settings.model_copy(update={"tokens": {hash_token(ALICE): ["ingest"],
                                                  hash_token(BOB): ["ingest"]}})



def serve(app: FastAPI) -> AbstractContextManager[str]:
    """Serve ``app`` with uvicorn on a free loopback port (its default 40-thread pool)."""
    return serving(app)




def listed(client: TestClient, headers: Mapping[str, str] | None = None) -> list[str]:
    """The ids of the job list the caller (``headers``) sees."""
    root = etree.fromstring(client.get("/tap/async", headers=headers).content)
    return [str(e.get("id")) for e in root.findall("uws:jobref", NS)]



# --------------------------------------------------------------------------- WAIT
def test_45_waits_on_pending_jobs_freeze_nothing(settings: Settings,
                                                  alerts: list[NoticeRecord]) -> None:
    """45 x WAIT=60 on PENDING jobs (more than the 40 worker threads) while /healthz, the
    REST API and /tap/sync answer at once; deleting the jobs ends the WAITs at once."""
    n = 45
    policy = JobPolicy(owner_active=n, owner_jobs=n, waits_per_client=n, waits_total=n)
    app = make_app(settings, policy)
    with serve(app) as url, httpx.Client(base_url=url, timeout=90) as http:
        ids = [submit(http) for _ in range(n)]
        service: JobService = jobs_of(app)
        with ThreadPoolExecutor(n) as pool:
            waits = [pool.submit(httpx.get, f"{url}/tap/async/{j}", params={"WAIT": "60"},
                                 timeout=90) for j in ids]
            deadline = time.monotonic() + 10
            while service.waits.held() < n:
                assert time.monotonic() < deadline, f"only {service.waits.held()} WAITs held"
                time.sleep(0.05)
            for path, params in (("/healthz", {}), ("/api/v1/events/IceCube-200615A", {}),
                                 ("/tap/sync", {"LANG": "ADQL", "QUERY": QUERY})):
                start = time.monotonic()
                r = http.get(path, params=params)
                took = time.monotonic() - start
                assert r.status_code == 200, (path, r.text)
                assert took < 1.0, f"{path} took {took:.2f} s behind {n} WAITs"
            assert not any(w.done() for w in waits)  # all still waiting
            start = time.monotonic()
            for j in ids:
                http.delete(f"/tap/async/{j}")
            codes = [w.result().status_code for w in waits]
            assert time.monotonic() - start < 5.0
        assert codes == [404] * n  # "deleted while waiting"
        assert service.waits.held() == 0


def test_waits_over_the_cap_answer_at_once(settings: Settings) -> None:
    """Past ``waits_per_client`` WAITs of one client, a WAIT answers the current phase."""
    app = make_app(settings, JobPolicy(waits_per_client=2, waits_total=10))
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        ids = [submit(http) for _ in range(3)]
        service: JobService = jobs_of(app)
        with ThreadPoolExecutor(2) as pool:
            held = [pool.submit(httpx.get, f"{url}/tap/async/{j}", params={"WAIT": "20"},
                                timeout=30) for j in ids[:2]]
            deadline = time.monotonic() + 10
            while service.waits.held() < 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            start = time.monotonic()
            third = http.get(f"/tap/async/{ids[2]}", params={"WAIT": "20"})
            assert time.monotonic() - start < 1.0
            assert third.status_code == 200 and phase_of(third.text) == "PENDING"
            assert not any(h.done() for h in held)
            http.post(f"/tap/async/{ids[0]}/phase", data={"PHASE": "ABORT"})
            assert phase_of(held[0].result(timeout=5).text) == "ABORTED"
            http.delete(f"/tap/async/{ids[1]}")
            assert held[1].result(timeout=5).status_code == 404


# ---------------------------------------------------------------------- owners
def test_jobs_belong_to_their_token(settings: Settings) -> None:
    """A token's jobs answer to it only (403 for others); anonymous jobs are listed to nobody."""
    with TestClient(make_app(with_tokens(settings))) as client:
        alice, bob = bearer(ALICE), bearer(BOB)
        jid = job_id(client.post("/tap/async", data={"LANG": "ADQL", "QUERY": QUERY},
                                 headers=alice, follow_redirects=False))
        assert len(jid) >= 32  # secrets.token_urlsafe(24): 192 random bits
        doc = client.get(f"/tap/async/{jid}", headers=alice)
        assert doc.status_code == 200
        assert f"<uws:ownerId>{hash_token(ALICE)[:12]}</uws:ownerId>" in doc.text
        assert hash_token(ALICE) not in doc.text  # only a prefix of the digest is shown

        for headers in (bob, {}):  # Bob, and anonymous callers, get nothing of it
            for method, path, data in (
                    ("GET", f"/tap/async/{jid}", None),
                    ("GET", f"/tap/async/{jid}/phase", None),
                    ("GET", f"/tap/async/{jid}/parameters", None),
                    ("GET", f"/tap/async/{jid}/results/result", None),
                    ("DELETE", f"/tap/async/{jid}", None),
                    ("POST", f"/tap/async/{jid}", {"ACTION": "DELETE"}),
                    ("POST", f"/tap/async/{jid}/phase", {"PHASE": "RUN"}),
                    ("POST", f"/tap/async/{jid}/destruction", {"DESTRUCTION": "2030-01-01"}),
                    ("POST", f"/tap/async/{jid}/parameters", {"QUERY": "SELECT 1"})):
                r = client.request(method, path, data=data, headers=headers,
                                   follow_redirects=False)
                assert r.status_code == 403 and is_votable_error(r), (method, path, r.text)
        assert client.get(f"/tap/async/{jid}/phase", headers=alice).text == "PENDING"

        anonymous = submit(client)
        assert listed(client, alice) == [jid]
        assert listed(client, bob) == []
        assert listed(client) == []  # anonymous jobs are in no list
        # An anonymous job answers to whoever holds its (unguessable) id.
        assert client.get(f"/tap/async/{anonymous}/phase", headers=bob).text == "PENDING"
        assert "<uws:ownerId xsi:nil" in client.get(f"/tap/async/{anonymous}").text

        unknown = client.get("/tap/async", headers=bearer("made-up"))
        assert unknown.status_code == 401 and is_votable_error(unknown)
        r = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": QUERY},
                        headers=bearer("made-up"), follow_redirects=False)
        assert r.status_code == 401


# ------------------------------------------------------------------------ caps
def test_per_owner_and_global_caps(settings: Settings) -> None:
    """Creations over a per-owner cap are 429, over the global cap 503, both with Retry-After."""
    policy = JobPolicy(owner_active=3, owner_jobs=5, all_active=6)
    with TestClient(make_app(with_tokens(settings), policy)) as client:
        alice, bob = bearer(ALICE), bearer(BOB)

        def create(headers: Mapping[str, str]) -> Answer:
            return client.post("/tap/async", data={"LANG": "ADQL", "QUERY": QUERY},
                               headers=headers, follow_redirects=False)

        mine = [job_id(create(alice)) for _ in range(3)]
        over = create(alice)
        assert over.status_code == 429 and is_votable_error(over)
        assert "TooManyJobs" in over.text and over.headers["Retry-After"]
        assert len(listed(client, alice)) == 3
        # Ended jobs leave the active cap but are still kept, up to owner_jobs.
        for j in mine:
            client.post(f"/tap/async/{j}/phase", data={"PHASE": "ABORT"}, headers=alice)
        job_id(create(alice))
        job_id(create(alice))
        kept = create(alice)
        assert kept.status_code == 429 and "you keep 5 jobs" in kept.text
        client.delete(f"/tap/async/{mine[0]}", headers=alice)
        job_id(create(alice))  # 3 active, 5 kept again
        assert create(alice).status_code == 429

        # The anonymous clients of one address share one quota key.
        for _ in range(3):
            job_id(create({}))
        assert create({}).status_code == 429
        # Everybody together: 6 active jobs at most.
        busy = create(bob)
        assert busy.status_code == 503 and "ServiceBusy" in busy.text


def test_stored_bytes_are_capped(settings: Settings) -> None:
    """Uploads (and results) kept per quota key, and in all, are bounded."""
    table = _upload(200)

    def create(client: TestClient, name: str) -> Answer:
        return client.post("/tap/async", data={"LANG": "ADQL", "QUERY": QUERY,
                                               "UPLOAD": f"t,param:{name}"},
                           files={name: (f"{name}.xml", table, "text/xml")},
                           follow_redirects=False)

    with TestClient(make_app(settings, JobPolicy(owner_bytes=len(table) + 100,
                                                 all_bytes=10**9))) as client:
        jid = job_id(create(client, "a"))
        over = create(client, "b")
        assert over.status_code == 429 and "-byte limit" in over.text
        more = client.post(f"/tap/async/{jid}", files={"c": ("c.xml", table, "text/xml")},
                           follow_redirects=False)
        assert more.status_code == 429 and is_votable_error(more)
        client.delete(f"/tap/async/{jid}")
        job_id(create(client, "b"))
    with TestClient(make_app(settings, JobPolicy(all_bytes=len(table) // 2))) as client:
        busy = create(client, "c")
        assert busy.status_code == 503 and "ServiceBusy" in busy.text


def _upload(rows: int) -> bytes:
    body = "".join(f"<TR><TD>{i}</TD></TR>" for i in range(rows))
    return (b'<?xml version="1.0"?><VOTABLE version="1.4" '
            b'xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>'
            b'<FIELD name="id" datatype="int"/><DATA><TABLEDATA>' + body.encode()
            + b"</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>")


def test_anonymous_quota_keys() -> None:
    """Anonymous callers count by address (IPv6 by /64); owners by themselves."""
    assert Caller.of(None, "192.0.2.7") == Caller(None, "ip:192.0.2.7")
    assert Caller.of(None, "::ffff:192.0.2.7").quota_key == "ip:192.0.2.7"
    assert Caller.of(None, "2001:db8:1:2:aaaa::1").quota_key == (
        Caller.of(None, "2001:db8:1:2:bbbb::9").quota_key) == "ip:2001:db8:1:2::/64"
    assert Caller.of(None, None).quota_key == "ip:unknown"
    assert Caller.of("d" * 64, "192.0.2.7").quota_key == "d" * 64


def test_destruction_and_duration_are_clamped(settings: Settings, engine: Engine) -> None:
    """DESTRUCTION and EXECUTIONDURATION past their maxima are clamped, not refused."""
    with TestClient(make_app(settings)) as client:
        jid = submit(client, DESTRUCTION="9999-12-31T23:59:59-14:00",
                     EXECUTIONDURATION="99999999999999999999")

        def stored() -> tuple[datetime, int]:
            with engine.connect() as conn:
                row = conn.execute(select(uws_jobs.c.destruction_at,
                                          uws_jobs.c.execution_duration_s)
                                   .where(uws_jobs.c.id == jid)).one()
            return row.destruction_at, row.execution_duration_s

        week = datetime.now(UTC) + timedelta(days=7)
        when, seconds = stored()
        assert abs((when - week).total_seconds()) < 60 and seconds == 600  # async limit
        r = client.post(f"/tap/async/{jid}/destruction", data={"DESTRUCTION": "9999-12-31"},
                        follow_redirects=False)
        assert r.status_code == 303
        assert abs((stored()[0] - week).total_seconds()) < 60
        assert client.get(f"/tap/async/{jid}/destruction").text.startswith(
            week.strftime("%Y-%m-%d"))
        soon = datetime.now(UTC) + timedelta(days=2)
        client.post(f"/tap/async/{jid}/destruction", data={"DESTRUCTION": soon.isoformat()})
        assert abs((stored()[0] - soon).total_seconds()) < 1  # sooner times are kept
        for asked, kept in (("0", 600), ("5", 5), ("-3", 600), ("601", 600)):
            client.post(f"/tap/async/{jid}/executionduration",
                        data={"EXECUTIONDURATION": asked})
            assert client.get(f"/tap/async/{jid}/executionduration").text == str(kept)
        # A new job is kept no longer than the bound either, whatever the retention.
        app = make_app(settings, retention_s=10**9)
        with TestClient(app) as other:
            jid = submit(other)
            assert abs((stored()[0] - week).total_seconds()) < 60


def test_results_over_the_size_limit_are_refused(settings: Settings,
                                                 alerts: list[NoticeRecord]) -> None:
    """A result over the size limit makes its job ERROR, naming a MAXREC that fits."""
    with TestClient(make_app(settings, JobPolicy(result_bytes=300))) as client:
        jid = submit(client, PHASE="RUN")
        deadline = time.monotonic() + 30
        while (phase := client.get(f"/tap/async/{jid}/phase").text) not in (
                "COMPLETED", "ERROR"):
            assert time.monotonic() < deadline
            client.get(f"/tap/async/{jid}", params={"WAIT": "5", "PHASE": phase})
        assert phase == "ERROR"
        error = client.get(f"/tap/async/{jid}/error").text
        assert "ResultTooLarge" in error and "300-byte limit" in error and "MAXREC=" in error
        assert client.get(f"/tap/async/{jid}/results/result").status_code == 404


# -------------------------------------------------------------------- fairness
def test_a_light_job_does_not_wait_behind_another_owners_heavy_ones(engine: Engine) -> None:
    """Two runners, Alice's four heavy jobs queued first: Bob's light job still runs at
    once, because an owner has one job running at most (``owner_running``)."""
    release = threading.Event()
    ran: list[str] = []

    def execute(job: Job, uploads: Mapping[str, bytes]) -> TapResult:
        ran.append(str(job.params["QUERY"]))
        if job.params["QUERY"].startswith("heavy"):
            assert release.wait(30)
        return TapResult(b"done", "text/plain", 1, False)

    limits = JobLimits(retention_s=3600, duration_s=30, workers=2, poll_s=0.2, sweep_s=60)
    service = JobService(UwsStorage(engine), execute, limits, JobPolicy(owner_running=1))
    alice, bob = Caller.of("a" * 64, "10.0.0.1"), Caller.of("b" * 64, "10.0.0.2")
    service.start()
    try:
        heavy = [service.create(alice, {"QUERY": f"heavy {i}", "PHASE": "RUN"}, {})
                 for i in range(4)]
        time.sleep(0.5)  # the runners have taken what they may take
        light = service.create(bob, {"QUERY": "light", "PHASE": "RUN"}, {})
        deadline = time.monotonic() + 10
        while service.get(light.id, bob).phase != "COMPLETED":
            assert time.monotonic() < deadline, "the light job waited behind heavy ones"
            time.sleep(0.05)
        phases = [service.get(j.id, alice).phase for j in heavy]
        assert phases == ["EXECUTING", "QUEUED", "QUEUED", "QUEUED"]
        release.set()
        deadline = time.monotonic() + 20
        while any(service.get(j.id, alice).phase != "COMPLETED" for j in heavy):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert ran == ["heavy 0", "light", "heavy 1", "heavy 2", "heavy 3"]
    finally:
        release.set()
        service.stop()
