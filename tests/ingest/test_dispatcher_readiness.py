"""Issue 16, "``/readyz`` reports ... the dispatcher" and "metrics for ... notice age".

The app runs its own dispatcher against a real HTTP receiver that holds every request
until the test lets it answer: the dispatcher is stuck in a send, the way it is behind a
receiver that accepts connections and never answers. A second alert's notice is then due
and nobody claims it: ``/readyz`` turns 503 and says how long it has been due, and
``nufair_notice_oldest_pending_age_seconds`` (read with prometheus_client's parser) counts
the age of the first. Once the receiver answers, both notices go out and ``/readyz`` is
ready again; a stopped dispatcher makes it 503 with its own reason.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from ingest.dispatcher import Dispatcher
from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import wait_for

#: ``NUFAIR_READY_NOTICE_AGE_S`` of the test: a notice due this long means "not ready".
READY_AGE_S = 1.0


class HeldReceiver:
    """A loopback HTTP server that answers 200 to each POST only once ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.arrived = 0
        self.answered = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.arrived += 1
                outer.release.wait(60)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.answered += 1

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where the webhook sink posts."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/notices"


@pytest.fixture
def held() -> Iterator[HeldReceiver]:
    r = HeldReceiver()
    r.thread.start()
    yield r
    r.release.set()
    r.server.shutdown()
    r.server.server_close()


def _age(client: TestClient, sink: str) -> float | None:
    """``nufair_notice_oldest_pending_age_seconds`` of ``sink`` (None: no series)."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if (s.name == "nufair_notice_oldest_pending_age_seconds"
                    and s.labels.get("sink") == sink):
                return float(s.value)
    return None


def _not_ready(client: TestClient) -> dict[str, Any] | None:
    """The error of ``/readyz`` when it answers 503 (None when ready)."""
    r = client.get("/readyz")
    if r.status_code != 503:
        return None
    error: dict[str, Any] = r.json()["error"]
    return error


def test_readyz_and_metrics_show_a_stuck_then_a_stopped_dispatcher(
        settings: Settings, held: HeldReceiver, admin_headers: dict[str, str]) -> None:
    cfg = settings.model_copy(update={
        "sinks": ["webhook"], "webhook_url": held.url, "webhook_secret": SecretStr("s"),
        "webhook_timeout_s": 60.0, "dispatcher_poll_s": 0.1,
        "ready_notice_age_s": READY_AGE_S, "scan_runner_enabled": False})
    app = create_app(cfg)
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["dispatcher"] == {"alive": True, "oldest_due_s": None}
        assert _age(client, "webhook") is None
        for event_id in (1, 2):
            r = client.post("/api/v1/events/raw", json=raw_body(event_id=event_id),
                            headers=admin_headers)
            assert r.status_code == 201, r.text
            # The first notice is claimed and held: the dispatcher's thread is stuck in it.
            wait_for(lambda: held.arrived == 1, what="the first notice is being sent")
        error = wait_for(lambda: _not_ready(client), what="not ready while a notice is due")
        assert error["code"] == "not_ready" and "a notice has been due for" in error["message"]
        dispatcher = error["details"]["dispatcher"]
        assert dispatcher["alive"] is True and dispatcher["oldest_due_s"] > READY_AGE_S
        age = _age(client, "webhook")
        assert age is not None and age > dispatcher["oldest_due_s"]  # queued earlier
        held.release.set()
        wait_for(lambda: held.answered == 2, what="both notices answered")
        wait_for(lambda: client.get("/readyz").status_code == 200, what="ready again")
        assert _age(client, "webhook") is None  # nothing pending
        d: Dispatcher = app.ingest_context.dispatcher
        d.stop()
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["error"]["message"] == "the notice dispatcher is not running"
        assert down.json()["error"]["details"]["dispatcher"]["alive"] is False
