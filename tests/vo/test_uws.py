"""TAP async (UWS 1.1) jobs are rows in PostgreSQL: they survive restarts, every app process
sees them, a crash mid-job ends as ERROR, and jobs past their destruction time are swept."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from astropy.io.votable import parse_single_table
from astropy.table import Table
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from catalog.notices.parsed import NoticeRecord
from nufair.settings import DEV_TOKEN, Settings
from tests.serving import free_port
from tests.vo.jobs import NS, QUERY, job_id, jobs_of, make_app, phase_of, submit
from vo.uws import service as uws_service
from vo.uws.schema import uws_job_uploads, uws_jobs

TERMINAL = ("COMPLETED", "ERROR", "ABORTED")






def wait_done(client: TestClient, jid: str, within_s: float = 30.0) -> str:
    """Blocking-poll (WAIT) until the job ends; its final phase."""
    deadline = time.monotonic() + within_s
    phase = client.get(f"/tap/async/{jid}/phase").text
    while phase not in TERMINAL:
        assert time.monotonic() < deadline, f"job {jid} still {phase}"
        r = client.get(f"/tap/async/{jid}", params={"WAIT": "30", "PHASE": phase})
        phase = phase_of(r.text)
    return phase


def names_in(votable: bytes) -> list[str]:
    """The ``name`` column of a VOTable result."""
    table = parse_single_table(io.BytesIO(votable)).to_table(use_names_over_ids=True)
    return [str(n) for n in table["name"]]


def expected_names(alerts: list[NoticeRecord]) -> list[str]:
    """The names of the sample alerts, sorted."""
    return sorted(r.name for r in alerts if r.name)


def test_uws_job_life_cycle(settings: Settings, alerts: list[NoticeRecord]) -> None:
    """A job from creation to its result, with each resource UWS 1.1 names."""
    # The job list shows the caller's own jobs only: this client sends a token.
    with TestClient(make_app(settings), headers={"Authorization": f"Bearer {DEV_TOKEN}"}
                    ) as client:
        jid = submit(client, RUNID="r1")
        doc = client.get(f"/tap/async/{jid}").text
        assert phase_of(doc) == "PENDING" and "<uws:runId>r1</uws:runId>" in doc
        assert client.get(f"/tap/async/{jid}/results/result").status_code == 404

        r = client.post(f"/tap/async/{jid}/phase", data={"PHASE": "RUN"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith(f"/tap/async/{jid}")
        assert wait_done(client, jid) == "COMPLETED"
        result = client.get(f"/tap/async/{jid}/results/result")
        assert names_in(result.content) == expected_names(alerts)
        assert f"/tap/async/{jid}/results/result" in client.get(
            f"/tap/async/{jid}/results").text

        bad = submit(client, "SELECT nope FROM nufair.alerts", PHASE="RUN")
        assert wait_done(client, bad) == "ERROR"
        assert "unknown column 'nope'" in client.get(f"/tap/async/{bad}/error").text
        assert client.get(f"/tap/async/{bad}/results/result").status_code == 404

        pending = submit(client)
        client.post(f"/tap/async/{pending}/phase", data={"PHASE": "ABORT"})
        assert client.get(f"/tap/async/{pending}/phase").text == "ABORTED"

        def listed(**params: str) -> list[str]:
            root = etree.fromstring(client.get("/tap/async", params=params).content)
            return [str(e.get("id")) for e in root.findall("uws:jobref", NS)]

        assert listed() == [jid, bad, pending]
        assert listed(PHASE="ERROR") == [bad]
        assert listed(LAST="2") == [pending, bad]
        created = client.get(f"/tap/async/{bad}").text.split("creationTime>")[1][:24]
        assert listed(AFTER=created) == [pending]

        later = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
        client.post(f"/tap/async/{jid}/destruction", data={"DESTRUCTION": later.isoformat()})
        assert client.get(f"/tap/async/{jid}/destruction").text == (
            later.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        client.post(f"/tap/async/{jid}/executionduration", data={"EXECUTIONDURATION": "7"})
        assert client.get(f"/tap/async/{jid}/executionduration").text == "7"

        r = client.delete(f"/tap/async/{pending}", follow_redirects=False)
        assert r.status_code == 303 and urlparse(r.headers["location"]).path == "/tap/async"
        assert client.get(f"/tap/async/{pending}").status_code == 404
        assert listed() == [jid, bad]


def _upload() -> bytes:
    buf = io.BytesIO()
    Table({"id": [3, 1, 2]}).write(buf, format="votable")
    return buf.getvalue()


def test_jobs_and_uploads_survive_a_restart(settings: Settings,
                                            alerts: list[NoticeRecord]) -> None:
    """Jobs and their uploads outlive the app: a new one sees and runs them."""
    with TestClient(make_app(settings)) as first:
        done = submit(first, PHASE="RUN")
        assert wait_done(first, done) == "COMPLETED"
        before = first.get(f"/tap/async/{done}").text
        result = first.get(f"/tap/async/{done}/results/result").content
        # A job that waits for RUN, with a table uploaded inline.
        waiting = job_id(first.post(
            "/tap/async", data={"LANG": "ADQL", "QUERY": "SELECT id FROM TAP_UPLOAD.src "
                                "ORDER BY id", "UPLOAD": "src,param:t1"},
            files={"t1": ("t1.xml", _upload(), "application/x-votable+xml")},
            follow_redirects=False))

    with TestClient(make_app(settings)) as second:  # a new process on the same database
        assert second.get(f"/tap/async/{done}").text == before
        assert second.get(f"/tap/async/{done}/results/result").content == result
        assert names_in(result) == expected_names(alerts)
        second.post(f"/tap/async/{waiting}/phase", data={"PHASE": "RUN"})
        assert wait_done(second, waiting) == "COMPLETED"
        table = parse_single_table(io.BytesIO(
            second.get(f"/tap/async/{waiting}/results/result").content)).to_table(
            use_names_over_ids=True)
        assert [int(i) for i in table["id"]] == [1, 2, 3]


def test_two_app_instances_share_jobs(settings: Settings, alerts: list[NoticeRecord],
                                      engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """One app runs the job another queued; notifications wake both at once."""
    # Only notifications can wake anyone within this test: no fallback poll fires.
    monkeypatch.setattr(uws_service, "WAIT_RECHECK_S", 120.0)
    runner_app = make_app(settings, async_workers=2, uws_poll_s=120.0)
    front_app = make_app(settings, async_workers=0, uws_poll_s=120.0)
    with TestClient(runner_app) as runner, TestClient(front_app) as front:
        jid = submit(front)
        assert phase_of(runner.get(f"/tap/async/{jid}").text) == "PENDING"
        seen: list[str] = []
        waiter = threading.Thread(target=lambda: seen.append(
            runner.get(f"/tap/async/{jid}", params={"WAIT": "50"}).text))
        waiter.start()
        time.sleep(0.5)  # the runner app is now waiting on PENDING
        start = time.monotonic()
        front.post(f"/tap/async/{jid}/phase", data={"PHASE": "RUN"})
        waiter.join(timeout=50)
        assert seen and phase_of(seen[0]) != "PENDING"
        # The front app has no runners: the other app ran it, woken by its notification,
        # and the front's WAIT returned on the notification of the end.
        assert wait_done(front, jid) == "COMPLETED"
        assert time.monotonic() - start < 40
        with engine.connect() as conn:
            ran_by = conn.execute(select(uws_jobs.c.runner).where(uws_jobs.c.id == jid)
                                  ).scalar_one()
        assert ran_by == jobs_of(runner_app).runner
        assert names_in(front.get(f"/tap/async/{jid}/results/result").content) == (
            expected_names(alerts))
        front.delete(f"/tap/async/{jid}")
        assert runner.get(f"/tap/async/{jid}").status_code == 404


@contextmanager
def revisions_locked(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock on the revisions table: every TAP query on it blocks."""
    with engine.connect() as conn, conn.begin():
        conn.execute(text("LOCK TABLE revisions IN ACCESS EXCLUSIVE MODE"))
        yield


def _wait_for_phase(base: str, jid: str, phase: str, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while httpx.get(f"{base}/tap/async/{jid}/phase").text != phase:
        assert time.monotonic() < deadline, f"job {jid} never reached {phase}"
        time.sleep(0.1)


def test_job_of_a_killed_server_comes_back_as_error(settings: Settings, engine: Engine,
                                                   alerts: list[NoticeRecord],
                                                   tmp_path: Path) -> None:
    """A job whose server is killed mid-run becomes ERROR once a server returns."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    assert settings.database_url is not None
    env = {**os.environ, "NUFAIR_DATABASE_URL": settings.database_url.get_secret_value(),
           "NUFAIR_DATA_DIR": str(tmp_path / "child"), "NUFAIR_ENVIRONMENT": "development",
           "NUFAIR_PUBLIC_BASE_URL": base, "NUFAIR_SCAN_RUNNER_ENABLED": "false",
           "NUFAIR_DISPATCHER_ENABLED": "false"}
    child = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "nufair.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 60
        while True:
            assert child.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with revisions_locked(engine):
            r = httpx.post(f"{base}/tap/async", data={"LANG": "ADQL", "QUERY": QUERY,
                                                      "PHASE": "RUN"})
            jid = job_id(r)
            _wait_for_phase(base, jid, "EXECUTING")  # its query is blocked on the lock
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)

    # A new server on the same database: the job must not stay EXECUTING.
    with TestClient(make_app(settings, uws_sweep_s=0.5)) as client:
        assert wait_done(client, jid) == "ERROR"
        error = client.get(f"/tap/async/{jid}/error")
        assert error.status_code == 200
        assert "stopped before the job finished" in error.text
        assert "submit the query again" in client.get(f"/tap/async/{jid}").text


def test_clean_shutdown_fails_the_jobs_it_was_running(settings: Settings, engine: Engine,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean shutdown turns the jobs it was running into ERROR (SHUT_DOWN)."""
    monkeypatch.setattr(uws_service, "STOP_GRACE_S", 0.5)
    with ExitStack() as app_running:
        client = app_running.enter_context(TestClient(make_app(settings)))
        with revisions_locked(engine):  # taken once the app is up: its start-up reads
            jid = submit(client, PHASE="RUN")
            deadline = time.monotonic() + 30
            while client.get(f"/tap/async/{jid}/phase").text != "EXECUTING":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            app_running.close()  # shut the app down while its job is blocked
        with engine.connect() as conn:
            phase, error = conn.execute(select(uws_jobs.c.phase, uws_jobs.c.error)
                                        .where(uws_jobs.c.id == jid)).one()
    assert phase == "ERROR" and error == uws_service.SHUT_DOWN


def test_jobs_past_destruction_are_swept(settings: Settings, engine: Engine) -> None:
    """Jobs past their destruction time are removed with their uploads."""
    with TestClient(make_app(settings, uws_sweep_s=0.3)) as client:
        doomed = job_id(client.post(
            "/tap/async", data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.src",
                                "UPLOAD": "src,param:t1"},
            files={"t1": ("t1.xml", _upload(), "application/x-votable+xml")},
            follow_redirects=False))
        kept = submit(client)
        soon = datetime.now(UTC) + timedelta(seconds=1)
        client.post(f"/tap/async/{doomed}/destruction", data={"DESTRUCTION": soon.isoformat()})
        assert client.get(f"/tap/async/{doomed}/phase").text == "PENDING"

        def rows(table: Any) -> int:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(table).where(
                    table.c[("id" if table is uws_jobs else "job_id")] == doomed)).scalar_one())

        assert rows(uws_jobs) == rows(uws_job_uploads) == 1
        deadline = time.monotonic() + 20
        while rows(uws_jobs):
            assert time.monotonic() < deadline, "the sweep did not remove the job"
            time.sleep(0.1)
        assert rows(uws_job_uploads) == 0
        assert client.get(f"/tap/async/{doomed}").status_code == 404
        assert client.get(f"/tap/async/{kept}/phase").text == "PENDING"
