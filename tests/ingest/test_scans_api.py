"""The scan API's requests, validation, listing, abort and rescan (runner switched off, so
every state seen here is a stored fact, not a race)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import fast_settings


@pytest.fixture
def idle(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(fast_settings(settings, scan_runner_enabled=False,
                                             dispatcher_enabled=False))) as c:
        yield c


def test_alert_queues_one_realtime_update_scan_and_non_alert_none(
        idle: TestClient, admin_headers: dict[str, str]) -> None:
    alert = idle.post("/api/v1/events/raw", json=raw_body(), headers=admin_headers).json()
    idle.post("/api/v1/events/raw", json=raw_body(energy_tev=30.0, event_id=43),
              headers=admin_headers)
    scans = idle.get("/api/v1/scans").json()
    assert [(s["event"], s["priority"], s["publish"], s["state"]) for s in scans] == [
        (alert["name"], "realtime", "update", "pending")]
    assert scans[0]["config"]["nsides"] == [[4, 0], [8, 4]]
    status = idle.get(f"/api/v1/scans/{scans[0]['id']}/status").json()
    assert status == {"id": scans[0]["id"], "state": "pending", "claims": 0,
                      "abort_requested": False, "snapshots": 0, "has_partial_result": False,
                      "note": None}


def test_request_list_abort_rescan(idle: TestClient, admin_headers: dict[str, str]) -> None:
    name = idle.post("/api/v1/events/raw", json=raw_body(),
                     headers=admin_headers).json()["name"]
    r = idle.post("/api/v1/scans", json={"event": name, "nsides": "8:0,32:6", "seeds": 5,
                                         "labels": ["reproc-2025", "test"]},
                  headers=admin_headers)
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["priority"] == "reprocessing" and a["publish"] == "none"
    assert a["config"]["nsides"] == [[8, 0], [32, 6]] and a["config"]["n_seeds"] == 5
    inline = raw_body(event_id=99)
    b = idle.post("/api/v1/scans", json={"inline_event": inline, "labels": ["inline"]},
                  headers=admin_headers).json()
    assert b["event"] is None and b["event_id"] == 99

    by_label = idle.get("/api/v1/scans", params={"label": "test"}).json()
    assert [s["id"] for s in by_label] == [a["id"]]
    by_event = idle.get("/api/v1/scans", params={"event_id": 99}).json()
    assert [s["id"] for s in by_event] == [b["id"]]
    by_run = idle.get("/api/v1/scans", params={"run_id": inline["run_id"]}).json()
    assert {s["id"] for s in by_run} >= {a["id"], b["id"]}

    # A queued scan nobody runs is aborted at once; aborting it again is a conflict.
    d = idle.delete(f"/api/v1/scans/{a['id']}", headers=admin_headers)
    assert d.status_code == 202 and d.json()["state"] == "aborted"
    again = idle.delete(f"/api/v1/scans/{a['id']}", headers=admin_headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    # A rescan is a new scan of the same raw event that points at its origin.
    re = idle.post(f"/api/v1/scans/{a['id']}/rescan", json={"priority": "realtime"},
                   headers=admin_headers).json()
    assert re["origin_scan"] == a["id"] and re["id"] != a["id"]
    assert re["priority"] == "realtime" and re["config"] == a["config"]
    assert re["labels"] == a["labels"] and re["state"] == "pending"
    assert idle.get(f"/api/v1/scans/{a['id']}").json()["state"] == "aborted"
    res = idle.get(f"/api/v1/scans/{re['id']}/result").json()
    assert res == {"id": re["id"], "state": "pending", "snapshots": [], "final": None}
    prog = idle.get(f"/api/v1/scans/{re['id']}/progress").json()
    assert prog["fraction"] == 0 and prog["best_so_far"] is None


@pytest.mark.parametrize(("body", "status", "code"), [
    ({}, 422, "invalid_input"),
    ({"event": "IceCube-250304A", "inline_event": {"x": 1}}, 422, "invalid_input"),
    ({"event": "IceCube-250304A", "nsides": "8:0,12:4"}, 422, "invalid_input"),
    ({"event": "IceCube-250304A", "nsides": "64:0,8:4"}, 422, "invalid_input"),
    ({"event": "IceCube-250304A", "nsides": "8:0;drop"}, 422, "invalid_request"),
    ({"event": "IceCube-250304A", "priority": "urgent"}, 422, "invalid_request"),
    ({"event": "IceCube-250304A", "seeds": 0}, 422, "invalid_request"),
    ({"event": "IceCube-991231Z"}, 404, "not_found"),
    ({"inline_event": {"observatory": "IceCube"}}, 422, "invalid_input"),
    ({"inline_event": "RAW", "publish": "update"}, 422, "invalid_input"),
])
def test_bad_requests_are_refused_with_a_code(idle: TestClient, admin_headers: dict[str, str],
                                              body: dict[str, object], status: int,
                                              code: str) -> None:
    idle.post("/api/v1/events/raw", json=raw_body(), headers=admin_headers)
    if body.get("inline_event") == "RAW":
        body = {**body, "inline_event": raw_body(event_id=77)}
    before = idle.get("/api/v1/scans").json()
    r = idle.post("/api/v1/scans", json=body, headers=admin_headers)
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text
    assert idle.get("/api/v1/scans").json() == before  # nothing half-stored


def test_write_endpoints_need_the_scan_scope(settings: Settings) -> None:
    import hashlib

    only_ingest = {hashlib.sha256(b"ingest-only").hexdigest(): ["ingest"]}
    cfg = fast_settings(settings, scan_runner_enabled=False, tokens=only_ingest)
    with TestClient(create_app(cfg)) as c:
        assert c.post("/api/v1/scans", json={"event": "x"}).status_code == 401
        r = c.post("/api/v1/scans", json={"event": "x"},
                   headers={"Authorization": "Bearer ingest-only"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert c.delete("/api/v1/scans/1").status_code == 401
        assert c.post("/api/v1/scans/1/rescan", json={}).status_code == 401
        assert c.get("/api/v1/scans/12345").status_code == 404
