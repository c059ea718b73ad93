"""Synchronous TAP queries run in threads of their own (issue 12): when every one of the
server's shared handler threads is blocked, a TAP query still answers, and a query that
blocks for long does not take a thread that pages need."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from astropy.io.votable import parse_single_table
from pydantic import SecretStr

from catalog.notices.parsed import NoticeRecord
from nufair.app import create_app
from nufair.settings import Settings
from tests.serving import base_url, free_socket, serving
from tests.vo.checks import status_of
from vo.context import context_of

#: The fewest handler threads the settings allow.
THREADS = 4


@pytest.fixture
def blocked(db_url: str, tmp_path: Path) -> Iterator[tuple[str, threading.Event]]:
    """The real app with ``THREADS`` shared handler threads, all of them held by a route
    added here that blocks until the yielded event is set; yields (url, event)."""
    sock = free_socket()
    url = base_url(sock)
    app = create_app(Settings(database_url=SecretStr(db_url), data_dir=tmp_path,
                              environment="development", public_base_url=url,
                              worker_threads=THREADS))
    release = threading.Event()
    entered = threading.Semaphore(0)

    @app.get("/test-blocks")
    def blocks() -> str:  # a plain def: FastAPI runs it in a shared handler thread
        entered.release()
        release.wait(30)
        return "released"

    with serving(app, sock) as served, ThreadPoolExecutor(THREADS) as pool:
        holders = [pool.submit(httpx.get, f"{served}/test-blocks", timeout=60)
                   for _ in range(THREADS)]
        try:
            for _ in range(THREADS):
                assert entered.acquire(timeout=20), "the blocking route did not start"
            yield served, release
        finally:
            release.set()
            assert all(h.result().status_code == 200 for h in holders)
            assert context_of(app).slots.free[0] == context_of(app).config.sync_slots


def test_tap_answers_while_every_handler_thread_is_held(
        blocked: tuple[str, threading.Event], alerts: list[NoticeRecord]) -> None:
    """With the shared threads all held, a plain-def route waits (the threads really are
    exhausted), while a TAP query is answered in full from the slots' own threads."""
    url, release = blocked
    with pytest.raises(httpx.ReadTimeout):  # VOSI availability is a plain-def route
        httpx.get(f"{url}/tap/availability", timeout=1.5)
    r = httpx.post(f"{url}/tap/sync", timeout=20,
                   data={"LANG": "ADQL", "QUERY": "SELECT name FROM nufair.alerts"})
    assert r.status_code == 200 and status_of(r.content)[0] == "OK"
    names = parse_single_table(io.BytesIO(r.content)).array["name"]
    assert sorted(str(n) for n in names) == sorted(str(a.name) for a in alerts)
    release.set()
    assert httpx.get(f"{url}/tap/availability", timeout=20).status_code == 200
