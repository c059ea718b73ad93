"""The embedded PostgreSQL killed for real (``kill -9`` of its postmaster) and brought back.

No mocks: a pgserver PostgreSQL in a temporary folder, a ``PgSupervisor`` on it, SIGKILL
to the pid in ``postmaster.pid``; the supervisor must notice, start the server again on
the same data folder and run its ``on_restart`` callbacks, and the data must survive.
The end-to-end test does the same under ``nufair run`` in a child process.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nufair.database import start_embedded, supervised
from nufair.pgsupervisor import PgSupervisor, active, database_is_up, orphans, read_pid

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
        server.cleanup()  # stops whichever postmaster runs now (pgserver's handle follows)
        shutil.rmtree(own, ignore_errors=True)


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
