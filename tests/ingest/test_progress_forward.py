"""Issue 16 item 8: a scan's progress only moves forward, and the update notice's
``alert_datetime`` is the time it was issued.

A real raw event runs through the app: the scan's state is polled while it runs (it may
only go pending → running → done), its stored snapshots are read back (partial fractions
below 1 and never decreasing, no ETA once reco's estimate is reached, the final at 1), and
the update notice's GCN JSON, re-parsed from the folder sink, is compared with the time
the outbox row was written and with the scan's last snapshot.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from catalog.schema.outbox import notices
from catalog.storage.events import CatalogStorage
from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import fast_settings

ORDER = {"pending": 0, "running": 1, "done": 2}


def test_progress_moves_forward_and_the_update_is_dated_when_issued(
        settings: Settings, storage: CatalogStorage, admin_headers: dict[str, str]) -> None:
    cfg = fast_settings(settings, scan_nsides="4:0,8:6,16:6")
    body = raw_body(event_id=808)
    states: list[str] = []
    with TestClient(create_app(cfg)) as client:
        assert client.post("/api/v1/events/raw", json=body, headers=admin_headers
                           ).status_code == 201
        (scan,) = client.get("/api/v1/scans", params={"run_id": body["run_id"]}).json()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            state = client.get(f"/api/v1/scans/{scan['id']}/status").json()["state"]
            if not states or states[-1] != state:
                states.append(state)
            if state in ("done", "failed", "aborted"):
                break
            time.sleep(0.02)
        assert states[-1] == "done", states
        assert [ORDER[s] for s in states] == sorted(ORDER[s] for s in states), states
        snaps = client.get(f"/api/v1/scans/{scan['id']}/result").json()["snapshots"]
    *partial, final = snaps
    assert partial and final["kind"] == "final" and final["fraction"] == 1.0
    fractions = [s["fraction"] for s in partial]
    assert all(0 <= f < 1 for f in fractions) and fractions == sorted(fractions)
    for s in partial:
        if s["pixels_done"] >= s["pixels_total"]:
            assert s["eta_s"] is None, s
    gcn = cfg.data_dir / "notices" / "gcn-json"
    stem = f"{body['observatory']}_{body['run_id']}_{body['event_id']:09d}_1.json"
    issued = datetime.fromisoformat(json.loads((gcn / stem).read_text())["alert_datetime"])
    with storage.engine.connect() as conn:
        queued = conn.execute(select(notices.c.created_at).where(
            notices.c.filename == stem)).scalar_one()
    # The notice is queued in the transaction that stores the revision it dates.
    assert abs((issued - queued).total_seconds()) < 2.0
    assert issued >= datetime.fromisoformat(partial[-1]["created_at"])
