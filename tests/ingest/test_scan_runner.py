"""The scan runner on a real app and Dask: priority lanes, abort of a running scan, and
survival of a restart (a graceful stop releases the scan; a dead runner's stale heartbeat
lets another re-claim it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from catalog.storage.events import CatalogStorage
from catalog.storage.scans import ScanStorage
from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import fast_settings, wait_for

#: A reprocessing scan long enough (tens of seconds) to be busy while others come and go.
SLOW = {"nsides": "8:0,16:8", "seeds": 7}
#: Long enough to be stopped in the middle (hundreds of pixel fits), short enough to finish.
MEDIUM = {"nsides": "8:0", "seeds": 3}


def _scan(client: TestClient, pk: int) -> dict[str, Any]:
    out: dict[str, Any] = client.get(f"/api/v1/scans/{pk}").json()
    return out


def test_realtime_scan_never_waits_behind_reprocessing(
        settings: Settings, admin_headers: dict[str, str]) -> None:
    cfg = fast_settings(settings, dispatcher_enabled=False)
    with TestClient(create_app(cfg)) as c:
        slow = c.post("/api/v1/scans", json={"inline_event": raw_body(event_id=50), **SLOW},
                      headers=admin_headers).json()
        wait_for(lambda: _scan(c, slow["id"])["state"] == "running", what="reprocessing runs")
        # The general slot is busy with reprocessing; a realtime scan starts at once anyway.
        fast = c.post("/api/v1/scans", json={"inline_event": raw_body(event_id=51),
                                             "priority": "realtime"},
                      headers=admin_headers).json()
        done = wait_for(lambda: (s := _scan(c, fast["id"]))["state"] == "done" and s,
                        what="realtime scan done")
        still = _scan(c, slow["id"])
        assert still["state"] == "running" and still["finished_at"] is None
        assert done["started_at"] > still["started_at"]
        # Abort of a running scan: the runner sees it at its next heartbeat or task.
        r = c.delete(f"/api/v1/scans/{slow['id']}", headers=admin_headers)
        assert r.status_code == 202 and r.json()["abort_requested_at"] is not None
        aborted = wait_for(lambda: (s := _scan(c, slow["id"]))["state"] == "aborted" and s,
                           what="abort")
        assert aborted["revision"] is None
        snaps = c.get(f"/api/v1/scans/{slow['id']}/result").json()
        assert snaps["final"] is None
        assert {s["kind"] for s in snaps["snapshots"]} <= {"partial"}


def test_scan_survives_a_restart_of_the_app(settings: Settings,
                                            admin_headers: dict[str, str]) -> None:
    cfg = fast_settings(settings, dispatcher_enabled=False)
    with TestClient(create_app(cfg)) as first:
        pk = first.post("/api/v1/scans", json={"inline_event": raw_body(event_id=60), **MEDIUM},
                        headers=admin_headers).json()["id"]
        wait_for(lambda: first.get(f"/api/v1/scans/{pk}/status").json()["snapshots"] >= 1,
                 what="partial snapshot")
    # The first app stopped mid-scan: the scan is back in the queue, nothing lost.
    with TestClient(create_app(cfg.model_copy(update={"scan_runner_enabled": False}))) as look:
        row = _scan(look, pk)
        assert row["state"] == "pending" and row["claims"] == 1 and row["finished_at"] is None
        kept = look.get(f"/api/v1/scans/{pk}/result").json()["snapshots"]
        assert kept and all(s["kind"] == "partial" for s in kept)
    with TestClient(create_app(cfg)) as second:
        done = wait_for(lambda: (s := _scan(second, pk))["state"] == "done" and s,
                        timeout_s=300, what="scan done after restart")
        assert done["claims"] == 2
        after = second.get(f"/api/v1/scans/{pk}/result").json()["snapshots"]
        # Snapshots of the first run are kept, never overwritten; numbering continues.
        assert after[:len(kept)] == kept
        assert [s["seq"] for s in after] == list(range(1, len(after) + 1))
        assert after[-1]["kind"] == "final"


def test_stale_claim_of_a_dead_runner_is_reclaimed(settings: Settings, storage: CatalogStorage,
                                                   admin_headers: dict[str, str]) -> None:
    cfg = fast_settings(settings, dispatcher_enabled=False, scan_stale_s=1.0,
                        scan_runner_enabled=False)
    scans = ScanStorage(storage.engine)
    with TestClient(create_app(cfg)) as idle:
        pk = idle.post("/api/v1/scans", json={"inline_event": raw_body(event_id=70)},
                       headers=admin_headers).json()["id"]
    # A runner claims it and dies without a word (no release, no more heartbeats).
    ghost = scans.claim_next("ghost/0", ("realtime", "reprocessing"), timedelta(seconds=1))
    assert ghost is not None and ghost.id == pk
    assert scans.claim_next("other/0", ("reprocessing",), timedelta(seconds=60)) is None
    with TestClient(create_app(cfg.model_copy(update={"scan_runner_enabled": True}))) as c:
        done = wait_for(lambda: (s := _scan(c, pk))["state"] == "done" and s,
                        what="re-claimed scan done")
        assert done["claims"] == 2
    # The dead runner's claim is gone: nothing it might still say is stored.
    from catalog.storage.scans import LostClaim, Snapshot

    try:
        scans.add_snapshot(pk, ghost.claim_token or "", Snapshot(0.5, 1, 2, 1.0, 1.0, None))
    except LostClaim:
        pass
    else:
        raise AssertionError("a runner that lost its claim could still write")
