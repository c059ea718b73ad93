"""``/healthz``: answered before any middleware from the database probe's flag, with
every worker thread busy too (issue #12)."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from nufair.app import create_app
from nufair.context import NufairApp
from nufair.health import DatabaseHealth
from nufair.settings import Settings


def test_healthz_reports_the_database(client: TestClient) -> None:
    """``/healthz`` reports the database probe's flag."""
    app: NufairApp = client.app  # type: ignore[assignment]
    assert client.get("/healthz").json() == {"status": "ok"}

    def down() -> bool:
        raise OSError("connection refused")

    dead = DatabaseHealth(down, interval_s=60)
    app.db_health = dead
    dead.check()  # never succeeded: down at once
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable"
    assert "connection refused" not in r.text  # the reason is logged, not served
    flaky = iter([True, False, False])
    health = DatabaseHealth(lambda: next(flaky), interval_s=60)
    app.db_health = health
    assert health.check() and not health.check()
    assert client.get("/healthz").status_code == 200  # one slow probe is not an outage
    health.check()
    assert client.get("/healthz").status_code == 503


def test_healthz_answers_with_every_worker_thread_busy(settings: Settings) -> None:
    """``/healthz`` answers with every worker thread busy."""
    import anyio.to_thread

    app = create_app(settings)
    release = threading.Event()

    @app.get("/api/v1/slow")
    def slow() -> dict[str, str]:
        release.wait(20)
        return {"status": "done"}

    with TestClient(app) as c:
        assert c.portal is not None

        async def one_thread() -> None:
            anyio.to_thread.current_default_thread_limiter().total_tokens = 1

        c.portal.call(one_thread)
        busy = threading.Thread(target=c.get, args=("/api/v1/slow",))
        busy.start()
        time.sleep(0.3)
        try:
            t0 = time.perf_counter()
            r = c.get("/healthz")
            elapsed = time.perf_counter() - t0
        finally:
            release.set()
            busy.join()
        assert r.status_code == 200 and elapsed < 1.0, elapsed
