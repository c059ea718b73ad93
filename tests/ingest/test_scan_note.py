"""A ``publish=update`` scan of a retracted event says in the API why it published nothing.

Issue 16: such a scan ends ``done`` with ``revision: null``; its ``note`` (in
``GET /api/v1/scans/{id}`` and ``/status``) names the event and its retraction, while
``error`` stays for failed scans. The event is posted and retracted with the runner
switched off, then a runner (a second app on the same database) runs its scans.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from catalog.schema.ingest import ScanRead
from ingest.scanning.update import unpublished
from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import fast_settings, wait_for


def test_update_scan_of_a_retracted_event_states_why_it_published_nothing(
        settings: Settings, admin_headers: dict[str, str]) -> None:
    with TestClient(create_app(fast_settings(settings, scan_runner_enabled=False,
                                             dispatcher_enabled=False))) as idle:
        name = idle.post("/api/v1/events/raw", json=raw_body(),
                         headers=admin_headers).json()["name"]
        r = idle.post(f"/api/v1/events/{name}/retract", json={"reason": "noise burst"},
                      headers=admin_headers)
        assert r.status_code == 201, r.text
        asked = idle.post("/api/v1/scans", json={"event": name, "publish": "update"},
                          headers=admin_headers).json()
        assert asked["state"] == "pending" and asked["note"] is None

    with TestClient(create_app(fast_settings(settings, dispatcher_enabled=False))) as client:
        scans = client.get("/api/v1/scans", params={"run_id": raw_body()["run_id"]}).json()
        # The alert's own realtime scan and the one asked for: both publish=update.
        assert sorted(s["publish"] for s in scans) == ["update", "update"]
        for s in scans:
            done = _finished(client, s["id"])
            assert (done["state"], done["error"], done["revision"]) == ("done", None, None)
            note = done["note"]
            assert name in note and "retracted" in note and "revision 1" in note, note
            status = client.get(f"/api/v1/scans/{s['id']}/status").json()
            assert status["state"] == "done" and status["note"] == note
        detail = client.get(f"/api/v1/events/{name}").json()
        assert [v["kind"] for v in detail["revisions"]] == ["initial", "retraction"]

        # A scan that publishes is not given a note: publish=none is done as asked.
        plain = client.post("/api/v1/scans", json={"event": name},
                            headers=admin_headers).json()
        done = _finished(client, plain["id"])
        assert (done["state"], done["note"], done["revision"]) == ("done", None, None)


def _finished(client: TestClient, scan_id: int) -> dict[str, Any]:
    """The scan once it has finished, whichever way."""
    def probe() -> dict[str, Any] | None:
        scan: dict[str, Any] = client.get(f"/api/v1/scans/{scan_id}").json()
        return scan if scan["state"] in ("done", "failed", "aborted") else None
    return wait_for(probe, what=f"scan {scan_id} finished")


def test_an_update_scan_with_no_catalog_event_says_so_and_publish_none_says_nothing() -> None:
    now = datetime.now(UTC)
    row = ScanRead.model_validate({
        "id": 5, "observatory": "IceCube", "run_id": 1, "event_id": 2, "event_pk": None,
        "priority": "reprocessing", "labels": [], "publish": "update", "config": {},
        "raw_event_pk": 3, "created_at": now, "claims": 1, "event_name": None,
        "revision_number": None, "now": now})
    note = unpublished(row, None)
    assert note is not None and "no catalog event" in note
    assert unpublished(row.model_copy(update={"publish": "none"}), None) is None
