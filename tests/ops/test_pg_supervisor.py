"""The embedded PostgreSQL killed for real (``kill -9`` of its postmaster) and brought back.

No mocks: a pgserver PostgreSQL in a temporary folder, a ``PgSupervisor`` on it, SIGKILL
to the pid in ``postmaster.pid``; the supervisor must notice, start the server again on
the same data folder and run its ``on_restart`` callbacks, and the data must survive.
The end-to-end test does the same under ``nufair run`` in a child process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import psutil
import psycopg
import pytest

from nufair.database import start_embedded, supervised
from nufair.pgsupervisor import (
    PgSupervisor,
    active,
    database_is_up,
    orphans,
    postmaster,
    read_pid,
    stale_lock,
)
from tests.serving import free_port

#: Bound on "killed" -> "answers again" (measured: about 1-3 s on an idle machine).
RECOVERY_S = 30.0


def _wait_for(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> float:
    """Poll ``condition`` until it holds; return the seconds it took (fail after timeout)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, f"not within {timeout_s} s"
        time.sleep(step_s)
    return time.monotonic() - start


def _libpq(url: str) -> str:
    """The libpq form of a SQLAlchemy ``postgresql+psycopg`` URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _kill_postmaster(pgdata: Path) -> int:
    """SIGKILL the postmaster named in ``pgdata/postmaster.pid``; return its pid."""
    pid = read_pid(pgdata / "postmaster.pid")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.fixture
def embedded() -> Iterator[tuple[str, Any, Path]]:
    """A fresh embedded server (URL of database ``sup``, pgserver handle, data folder)."""
    own = Path(tempfile.mkdtemp(prefix="nufair-pgsup-"))  # outside pytest's pruned basetemp
    url, server = start_embedded(own, database="sup")
    try:
        yield url, server, own / "pg"
    finally:
        server.cleanup()  # stops the postmaster pgserver's handle knows (the supervisor's)
        if postmaster(own / "pg") is not None:  # one started by hand in a test
            _pg_ctl(server, own / "pg", "-m", "immediate", "-w", "stop")
        shutil.rmtree(own, ignore_errors=True)


def _pg_ctl(server: Any, pgdata: Path, *args: str) -> None:
    """pgserver's own ``pg_ctl`` on ``pgdata``, as the user that runs the server."""
    import pgserver._commands

    command = vars(pgserver._commands)["pg_ctl"]  # generated at import: invisible to mypy
    command([*args], pgdata=pgdata, user=getattr(server, "system_user", None), timeout=60)


def _busy_backend(conninfo: str) -> threading.Thread:
    """A backend busy in a long CPU-bound query: it does not notice its postmaster die,
    so it stays orphaned and keeps the old shared memory (PostgreSQL then refuses to
    start until it is gone)."""
    started = threading.Event()

    def run() -> None:
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                started.set()
                conn.execute("SELECT count(*) FROM generate_series(1, 10000000000)")
        except psycopg.Error:
            pass  # killed by the supervisor, as it should be

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    with psycopg.connect(conninfo, autocommit=True) as watcher:
        _wait_for(lambda: watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
            " AND query LIKE '%generate_series%' AND pid <> pg_backend_pid()"
        ).fetchone() == (1,), 10)
    return thread


def test_supervisor_restarts_a_killed_postmaster(embedded: tuple[str, Any, Path]) -> None:
    url, server, pgdata = embedded
    conninfo = _libpq(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('written before the kill')")
    restarted: list[float] = []
    supervisor = PgSupervisor(server, interval_s=0.5,
                              on_restart=[lambda: restarted.append(time.monotonic())])
    with supervisor:
        assert supervisor.is_up() and supervisor.last_error is None
        assert active() is supervisor and database_is_up()
        busy = _busy_backend(conninfo)
        old_pid = _kill_postmaster(pgdata)
        killed_at = time.monotonic()

        _wait_for(lambda: not supervisor.is_up(), 10)
        assert not database_is_up()
        assert supervisor.last_error
        recovery_s = _wait_for(supervisor.is_up, RECOVERY_S)
        print(f"\nkill -> is_up() again: {time.monotonic() - killed_at:.2f} s "
              f"(down seen, then up after {recovery_s:.2f} s; "
              f"supervisor measured {supervisor.last_restart_s:.2f} s)")
        assert supervisor.last_error is None
        assert supervisor.restarts == 1
        assert len(restarted) == 1 and restarted[0] >= killed_at
        busy.join(10)
        assert not busy.is_alive()  # its orphaned backend was killed before the restart
        assert {p.pid for p in orphans(pgdata)} >= {read_pid(pgdata / "postmaster.pid")}

    assert active() is None
    new_pid = read_pid(pgdata / "postmaster.pid")
    assert new_pid is not None and new_pid != old_pid
    with psycopg.connect(conninfo, autocommit=True) as conn:  # a fresh connection, same URL
        rows = conn.execute("SELECT v FROM kept").fetchall()
    assert rows == [("written before the kill",)]


def test_supervised_none_is_a_configured_database() -> None:
    with supervised(None) as supervisor:
        assert supervisor is None
        assert database_is_up()


def test_a_restart_by_another_hand_runs_the_callbacks(embedded: tuple[str, Any, Path]
                                                      ) -> None:
    """``pg_ctl restart`` by an operator (or another process) kills the pools' connections
    too: a postmaster other than the last one seen runs ``on_restart``."""
    _, server, pgdata = embedded
    ran: list[int] = []
    supervisor = PgSupervisor(server, on_restart=[lambda: ran.append(1)])  # no thread:
    assert supervisor.check() and ran == []  # the checks are made here, one at a time
    before = read_pid(pgdata / "postmaster.pid")
    _pg_ctl(server, pgdata, "-m", "fast", "-w", "restart")
    assert read_pid(pgdata / "postmaster.pid") != before
    assert supervisor.check()
    assert ran == [1] and supervisor.restarts == 1
    assert supervisor.check() and ran == [1]  # once per new postmaster
    # pgserver's handle now records the new postmaster (it stops the one it records at
    # exit only while that process exists: a postmaster that came up after a timed-out
    # `pg_ctl start` was left running by `nufair run` under load)
    recorded = vars(server)["_postmaster_info"].process  # pgserver keeps it private
    assert recorded.pid == read_pid(pgdata / "postmaster.pid")
    server.cleanup()
    assert postmaster(pgdata) is None


def test_supervisor_reports_down_while_restart_fails(embedded: tuple[str, Any, Path]) -> None:
    """A restart that cannot succeed (data folder made unusable) is retried with backoff;
    ``is_up`` stays False and ``last_error`` says why; fixing the folder lets it recover."""
    url, server, pgdata = embedded
    supervisor = PgSupervisor(server, interval_s=0.2, backoff_initial_s=0.5, backoff_max_s=2)
    with supervisor:
        _kill_postmaster(pgdata)
        version = pgdata / "PG_VERSION"
        saved = version.read_text()
        version.write_text("1\n")  # postgres refuses a data folder of another major version
        try:
            _wait_for(lambda: (supervisor.last_error or "").startswith("restart failed"), 30)
            time.sleep(1.5)
            assert not supervisor.is_up()
            assert supervisor.restarts == 0
        finally:
            version.write_text(saved)
        _wait_for(supervisor.is_up, RECOVERY_S)
        assert supervisor.restarts == 1
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_stale_lock_tells_zombies_and_other_programs_from_a_server(
        embedded: tuple[str, Any, Path]) -> None:
    """A killed postmaster may stay a zombie (where PID 1 does not reap): PostgreSQL and
    pgserver both take its ``postmaster.pid`` for a running server, so it must go; so
    must a lock whose pid another program got. A free pid is left to PostgreSQL."""
    _, _, pgdata = embedded
    assert not stale_lock(pgdata / "postmaster.pid", pgdata)  # the live postmaster
    lock = pgdata.parent / "probe.lock"
    child = subprocess.Popen(["sleep", "60"])
    try:
        child.kill()
        _wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, 10)
        lock.write_text(f"{child.pid}\n")
        assert stale_lock(lock, pgdata)  # a zombie
    finally:
        child.wait(10)
    assert not stale_lock(lock, pgdata)  # reaped: a free pid
    lock.write_text(f"{os.getpid()}\n")
    assert stale_lock(lock, pgdata)  # alive, but not a postgres of this data folder
    lock.write_text("not a pid\n")
    assert not stale_lock(lock, pgdata)


# ----------------------------------------------------------------- end to end: nufair run

#: What the end-to-end test asks while the server is down (each a database read).
PROBES: dict[str, tuple[str, dict[str, str]]] = {
    "healthz": ("/healthz", {}),
    "events": ("/api/v1/events", {}),
    "tap": ("/tap/sync", {"REQUEST": "doQuery", "LANG": "ADQL",
                          "QUERY": "SELECT TOP 1 name FROM nufair.alerts"}),
    "scs": ("/scs", {"RA": "10", "DEC": "10", "SR": "1"}),
}


class Answer(NamedTuple):
    """One HTTP answer seen after the kill."""

    probe: str
    status: int
    content_type: str
    body: str


class Outage(NamedTuple):
    """What ``nufair run`` did around a ``kill -9`` of its PostgreSQL."""

    answers: list[Answer]  # in order, from the kill until every probe answered 200
    recovered_s: float  # kill -> every probe 200 again
    log: str  # the server's stdout and stderr
    exit_code: int  # after SIGTERM
    postmaster_left: bool  # a postmaster still ran after ``nufair run`` exited


def _ask(client: httpx.Client, name: str) -> Answer:
    path, params = PROBES[name]
    try:
        r = client.get(path, params=params)
    except httpx.HTTPError as exc:  # a dropped connection counts as an answer too
        return Answer(name, 0, "", f"{type(exc).__name__}: {exc}")
    return Answer(name, r.status_code, r.headers.get("content-type", ""), r.text[:300])


def _all_ok(client: httpx.Client) -> bool:
    return all(_ask(client, name).status == 200 for name in PROBES)


@pytest.fixture(scope="module")
def outage() -> Iterator[Outage]:
    """``nufair run --no-sample`` in a child process; its postmaster killed once."""
    own = Path(tempfile.mkdtemp(prefix="nufair-pgsup-run-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUFAIR_")}
    port = free_port()
    env.update(NUFAIR_DATA_DIR=str(own / "var"), NUFAIR_PORT=str(port),
               NUFAIR_PID_SYNC_INTERVAL_S="0",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    log_path = own / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nufair.cli", "run", "--no-sample"],
                                cwd=own, env=env, stdout=log, stderr=subprocess.STDOUT)
    pgdata = own / "var" / "pg"
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            def serving() -> bool:
                assert proc.poll() is None, log_path.read_text()
                return _ask(client, "healthz").status == 200
            _wait_for(serving, 180, step_s=0.5)
            assert _all_ok(client)
            _kill_postmaster(pgdata)
            killed_at = time.monotonic()
            answers: list[Answer] = []
            while True:
                round_ = [_ask(client, name) for name in PROBES]
                answers += round_
                if all(a.status == 200 for a in round_):
                    break
                assert time.monotonic() - killed_at < RECOVERY_S, answers[-len(PROBES):]
                assert proc.poll() is None, log_path.read_text()
                time.sleep(0.05)
            recovered_s = time.monotonic() - killed_at
        proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(60)
        left = _postmaster_after(pgdata, 30)
        yield Outage(answers, recovered_s, log_path.read_text(), exit_code, left)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        pid = read_pid(pgdata / "postmaster.pid")
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(own, ignore_errors=True)


def _postmaster_after(pgdata: Path, timeout_s: float) -> bool:
    """True when ``pgdata`` still has a live postmaster after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while postmaster(pgdata) is not None:
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)
    return False


def test_nufair_run_recovers_without_a_manual_restart(outage: Outage) -> None:
    failures = [a for a in outage.answers if a.status != 200]
    errors = sorted(set(re.findall(r"^(\w+(?:\.\w+)*(?:Error|Exception)\w*):", outage.log,
                                   re.MULTILINE)))
    print(f"\nkill -9 -> every probe 200 again: {outage.recovered_s:.2f} s; "
          f"{len(failures)} failed answer(s): "
          f"{sorted({(a.probe, a.status, a.content_type) for a in failures})}; "
          f"exceptions in the server log: {errors}")
    print(*[line for line in outage.log.splitlines() if "PostgreSQL" in line], sep="\n")
    assert failures, "the kill went unnoticed: nothing failed"
    assert outage.recovered_s < RECOVERY_S
    assert "answers again" in outage.log  # the supervisor, not a lucky reconnect
    assert outage.exit_code == 0
    assert not outage.postmaster_left  # `nufair run` stopped its server at exit


def test_nufair_run_answers_503_json_while_down(outage: Outage) -> None:
    failures = [a for a in outage.answers if a.status != 200]
    assert any(a.probe == "healthz" for a in failures), "/healthz stayed 200"
    for answer in failures:
        assert answer.status == 503, answer
        if answer.probe in ("tap", "scs"):
            continue  # VO errors are VOTable documents; the status is what clients see
        assert answer.content_type.startswith("application/json"), answer
        assert json.loads(answer.body)["error"]["code"] == "database_unavailable", answer
