"""Issue 16 items 3 and 5: a realtime scan whose Dask scheduler is unreachable is tried
again with backoff and finishes once the scheduler is up; ``/readyz`` names the scheduler
while it is down; ``/metrics`` counts the new tries and the finished scans; and every step
of the alert's life is a JSON log line with its ids as fields.

The scheduler is a real one (``distributed.LocalCluster`` on a fixed port) started only
after the first tries failed.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable
from typing import Any, cast

import dask.config
from distributed import LocalCluster
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from nufair import logs
from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import fast_settings, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _sample(client: TestClient, name: str, **labels: str) -> float:
    """The value of one sample of ``/metrics``, read with prometheus_client's own parser."""
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def _lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def _find(lines: list[dict[str, Any]], test: Callable[[dict[str, Any]], bool]
          ) -> dict[str, Any]:
    return next(line for line in lines if test(line))


def test_unreachable_scheduler_is_retried_then_the_scan_finishes(
        settings: Settings, admin_headers: dict[str, str]) -> None:
    port = _free_port()
    cfg = fast_settings(settings, dask_scheduler=f"tcp://127.0.0.1:{port}",
                        scan_infra_retries=30, scan_infra_backoff_s=0.5,
                        scan_infra_backoff_max_s=1.0, log_format="json")
    buf = io.StringIO()
    app = create_app(cfg)
    logs.configure("json", "INFO", stream=buf)
    # A connection refused is retried by distributed up to its connect timeout (30 s).
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), \
            TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "does not answer" in ready.json()["error"]["details"]["dask"]
        body = raw_body(event_id=4242)
        name = client.post("/api/v1/events/raw", json=body, headers=admin_headers).json()["name"]
        (scan,) = client.get("/api/v1/scans", params={"run_id": body["run_id"]}).json()
        wait_for(lambda: _sample(client, "nufair_scan_infra_retries_total",
                                 lane="realtime") >= 2, timeout_s=60, what="two new tries")
        # distributed is untyped: LocalCluster called as Any (mypy --strict).
        with cast(Any, LocalCluster)(n_workers=1, threads_per_worker=2, processes=False,
                          scheduler_port=port, dashboard_address=None):
            done = wait_for(lambda: (s := client.get(f"/api/v1/scans/{scan['id']}").json())
                            ["state"] in ("done", "failed") and s, timeout_s=180,
                            what="scan finished")
            assert done["state"] == "done" and done["claims"] == 1, done["error"]
            assert done["revision"] == 1
            assert client.get("/readyz").json()["checks"]["dask"] == "ok"
            retries = _sample(client, "nufair_scan_infra_retries_total", lane="realtime")
            assert 2 <= retries <= 30
            assert _sample(client, "nufair_scans_finished_total", lane="realtime",
                           outcome="done") == 1
            wait_for(lambda: _sample(client, "nufair_notices", sink="folder",
                                     state="delivered") == 6, what="notices delivered")
    lines = _lines(buf)
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    created = _find(lines, lambda x: x["message"].startswith(f"alert {name} created"))
    assert created["alert"] == name and created["logger"] == "ingest.pipeline"
    sid = scan["id"]
    of_scan = [x for x in lines if x.get("scan_id") == sid]
    failures = [x for x in of_scan if "infrastructure failure" in x["message"]]
    assert len(failures) == retries and all(x["level"] == "WARNING" for x in failures)
    steps = [x["message"].split(" ")[2] for x in of_scan
             if x["message"].split(" ")[2] in ("claimed", "started", "done")]
    assert steps == ["claimed"] + ["started"] * int(retries + 1) + ["done"]
    assert _find(of_scan, lambda x: x.get("outcome") == "done")["priority"] == "realtime"
    delivered = [x for x in lines if x["message"].startswith("notice ")
                 and " delivered to " in x["message"]]
    assert len(delivered) == 6 and {x["sink"] for x in delivered} == {"folder"}
    assert all(isinstance(x["notice_id"], int) and x["attempt"] == 1 for x in delivered)


def test_a_reprocessing_scan_fails_at_once_and_is_counted(
        settings: Settings, admin_headers: dict[str, str]) -> None:
    cfg = fast_settings(settings, dask_scheduler=f"tcp://127.0.0.1:{_free_port()}",
                        scan_infra_backoff_s=0.2, dispatcher_enabled=False)
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), \
            TestClient(create_app(cfg)) as client:
        pk = client.post("/api/v1/scans", json={"inline_event": raw_body(event_id=77)},
                         headers=admin_headers).json()["id"]
        failed = wait_for(lambda: (s := client.get(f"/api/v1/scans/{pk}").json())
                          ["state"] == "failed" and s, timeout_s=90, what="scan failed")
        assert "OSError" in failed["error"] or "TimeoutError" in failed["error"]
        assert _sample(client, "nufair_scan_infra_retries_total", lane="reprocessing") == 0
        assert _sample(client, "nufair_scans_finished_total", lane="reprocessing",
                       outcome="failed") == 1
