"""Bulk work at a lower CPU priority than the event loop (issue 12, ``nufair.priority``):
checked against the kernel's own view (``os.getpriority``, ``/proc/<pid>/autogroup``)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from nufair.app import create_app
from nufair.priority import LowerNewThreads, is_local, lower_backends
from nufair.settings import Settings
from vo.context import context_of


def _nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def _group_nice(pid: int) -> int | None:
    """The autogroup's nice value of ``pid`` (None: the kernel has no autogroup, or it
    schedules ``pid`` in a cgroup's group, for which it prints nothing)."""
    path = Path(f"/proc/{pid}/autogroup")
    fields = path.read_text().split() if path.exists() else []
    return int(fields[-1]) if fields else None


def _thread_nice(name: str) -> int:
    """The niceness a thread named ``name`` sees for itself when it runs."""
    seen: list[int] = []
    t = threading.Thread(target=lambda: seen.append(_nice(threading.get_native_id())), name=name)
    t.start()
    t.join()
    return seen[0]


def test_new_bulk_threads_lower_themselves_and_others_do_not() -> None:
    """Inside the block a thread named like a bulk thread starts lowered, others not; the
    profile function set before is back after it, in the lowered thread too."""
    base = _nice(0)
    calls: list[str] = []

    def earlier(frame: object, event: str, arg: object) -> None:
        calls.append(threading.current_thread().name)

    threading.setprofile(earlier)
    try:
        with LowerNewThreads(base + 3, prefixes=("bulk-",)):
            assert _thread_nice("bulk-1") == base + 3
            assert _thread_nice("db-health") == base
        assert threading.getprofile() is earlier
        assert _thread_nice("bulk-2") == base  # after the block: left alone
    finally:
        threading.setprofile(None)
    assert {"bulk-1", "db-health", "bulk-2"} <= set(calls)
    assert sys.getprofile() is None and _nice(threading.get_native_id()) == base


def test_backends_of_a_local_database_are_lowered(db_url: str) -> None:
    """A backend the engine connects to runs at the niceness, and so does its scheduling
    group where the kernel has autogroups; connections made before are left alone."""
    engine = create_engine(db_url)
    try:
        if not is_local(engine):
            pytest.skip("the test database is not on this machine")
        with engine.connect() as before:
            before_pid = before.execute(text("SELECT pg_backend_pid()")).scalar_one()
            stop = lower_backends(engine, 7)
            try:
                with engine.connect() as conn:
                    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
                    assert pid != before_pid
                    assert _nice(pid) == 7
                    assert _group_nice(pid) in (None, 7)
            finally:
                stop()
            assert _nice(before_pid) == 0
    finally:
        engine.dispose()


def test_a_remote_database_is_left_alone() -> None:
    """Process ids of another machine's backends are not this machine's: no lowering."""
    assert not is_local(create_engine("postgresql+psycopg://u@db.example:5432/x"))
    assert is_local(create_engine("postgresql+psycopg://u@/x?host=/run/postgresql"))
    assert is_local(create_engine("postgresql+psycopg://u@127.0.0.1:5432/x"))


def _bulk_work_nice(settings: Settings) -> tuple[int, int, int | None]:
    """Serve ``settings`` and return the niceness of the worker thread that ran a blocking
    handler, and that of a VO engine backend and of its scheduling group."""
    app = create_app(settings)

    @app.get("/api/v1/own-niceness")
    def own_niceness() -> dict[str, int]:
        return {"nice": _nice(threading.get_native_id())}

    with TestClient(app) as c:
        r = c.get(
            "/tap/sync",
            params={
                "REQUEST": "doQuery",
                "LANG": "ADQL",
                "QUERY": "SELECT TOP 1 name FROM nufair.alerts",
            },
        )
        assert r.status_code == 200
        worker = c.get("/api/v1/own-niceness").json()["nice"]
        with context_of(app).storage.engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        return worker, _nice(pid), _group_nice(pid)


def test_the_app_lowers_its_bulk_work(settings: Settings, db_url: str) -> None:
    """By default a backend of the VO engine (and its group) runs at niceness 19 and
    handler threads keep their priority; ``bulk_thread_niceness`` lowers the threads,
    ``bulk_niceness=0`` leaves the backends alone."""
    local = is_local(create_engine(db_url))
    base = _nice(0)
    worker, backend, group = _bulk_work_nice(settings)
    assert worker == base
    if local:
        assert backend == 19 and group in (None, 19)
    changed = settings.model_copy(update={"bulk_niceness": 0, "bulk_thread_niceness": 12})
    worker, backend, group = _bulk_work_nice(changed)
    assert worker == max(12, base)
    if local:
        assert backend == 0 and group in (None, 0)
