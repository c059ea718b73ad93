"""Issue 16 item 8: a scan's progress only moves forward, and the update notice's
``alert_datetime`` is the time it was issued.

A real raw event runs through the app each time. The first test polls the scan's state
while it runs (it may only go pending → running → done) and reads its stored snapshots back
(partial fractions below 1 and never decreasing, no ETA once reco's estimate is reached,
the final at 1).

The second makes the end of the scan slow, as an upload of large skymaps to an object store
makes it: the artifact store takes ``DELAY_S`` longer to place the files, between the end of
the scan and the transaction that stores the update. The notices the folder sink delivered
are parsed (GCN JSON with ``json``, the VOEvent with an XML parser) and their dates compared
with the revision's stored issue time and with the scan's own times, read from the
database. A revision dated when the scan ended (the old behaviour: ``issued_at`` taken
before the files were written and placed) is at least ``DELAY_S`` older than the
transaction that stored it, and fails here.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import func, select

from catalog.schema.events import revisions
from catalog.schema.ingest import scan_snapshots, scans
from catalog.schema.outbox import notices
from catalog.storage.events import CatalogStorage
from ingest.scanning.artifacts import ArtifactStore
from ingest.scanning.runner import ScanRunner
from ingest.scanning.skymaps import WrittenFile
from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import fast_settings, wait_for

ORDER = {"pending": 0, "running": 1, "done": 2}
#: Extra seconds the slow artifact store takes to place a revision's files.
DELAY_S = 6.0
#: The revision is dated in the transaction that stores it: its issue time and the scan's
#: ``finished_at`` (the database's ``now()`` of that transaction) are this close.
SAME_TRANSACTION = timedelta(seconds=2)


def _run_to_the_end(client: TestClient, body: dict[str, Any], headers: dict[str, str],
                    ) -> tuple[int, list[str]]:
    """Post ``body``; the id of its realtime scan and the states it went through."""
    assert client.post("/api/v1/events/raw", json=body, headers=headers).status_code == 201
    (scan,) = client.get("/api/v1/scans", params={"run_id": body["run_id"]}).json()
    states: list[str] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        state = client.get(f"/api/v1/scans/{scan['id']}/status").json()["state"]
        if not states or states[-1] != state:
            states.append(state)
        if state in ("done", "failed", "aborted"):
            break
        time.sleep(0.02)
    return int(scan["id"]), states


def test_progress_moves_forward(settings: Settings, admin_headers: dict[str, str]) -> None:
    cfg = fast_settings(settings, scan_nsides="4:0,8:6,16:6")
    with TestClient(create_app(cfg)) as client:
        pk, states = _run_to_the_end(client, raw_body(event_id=808), admin_headers)
        snaps = client.get(f"/api/v1/scans/{pk}/result").json()["snapshots"]
    assert states[-1] == "done", states
    assert [ORDER[s] for s in states] == sorted(ORDER[s] for s in states), states
    *partial, final = snaps
    assert partial and final["kind"] == "final" and final["fraction"] == 1.0
    fractions = [s["fraction"] for s in partial]
    assert all(0 <= f < 1 for f in fractions) and fractions == sorted(fractions)
    for s in partial:
        if s["pixels_done"] >= s["pixels_total"]:
            assert s["eta_s"] is None, s


class SlowStore:
    """An artifact store that takes ``DELAY_S`` longer to place files (a slow upload)."""

    def __init__(self, inner: ArtifactStore) -> None:
        self.inner = inner

    def scratch(self) -> Path:
        """The real store's scratch folder."""
        return self.inner.scratch()

    def place(self, rel: PurePosixPath, files: list[WrittenFile]) -> list[str]:
        """Wait ``DELAY_S``, then place the files in the real store."""
        time.sleep(DELAY_S)
        return self.inner.place(rel, files)


def _stored_times(storage: CatalogStorage, scan_pk: int) -> dict[str, Any]:
    """The update revision's issue time and notices, the scan's end and its last partial
    snapshot, as the database holds them."""
    with storage.engine.connect() as conn:
        row = conn.execute(
            select(scans.c.finished_at, revisions.c.id, revisions.c.issued_at)
            .join(revisions, revisions.c.id == scans.c.revision_pk)
            .where(scans.c.id == scan_pk)).one()
        last_partial = conn.execute(
            select(func.max(scan_snapshots.c.created_at))
            .where(scan_snapshots.c.scan_pk == scan_pk, scan_snapshots.c.kind == "partial")
        ).scalar_one()
        files = dict(conn.execute(select(notices.c.format, notices.c.filename).where(
            notices.c.revision_pk == row.id, notices.c.sink == "folder")).all())
    return {"finished": row.finished_at, "issued": row.issued_at,
            "last_partial": last_partial, "files": files}


def _who_date(voevent: bytes) -> datetime:
    """``Who/Date`` of a VOEvent (UTC, as VOEvent 2.0 writes it: no zone)."""
    root = etree.fromstring(voevent, etree.XMLParser(resolve_entities=False, no_network=True))
    assert root.tag == "{http://www.ivoa.net/xml/VOEvent/v2.0}VOEvent"
    (date,) = root.findall("Who/Date")
    return datetime.fromisoformat(date.text).replace(tzinfo=UTC)


def test_the_update_is_dated_when_issued_not_when_the_scan_ended(
        settings: Settings, storage: CatalogStorage, admin_headers: dict[str, str]) -> None:
    cfg = fast_settings(settings, sinks=["folder"], folder_formats=["gcn-json", "voevent"])
    app = create_app(cfg)
    with TestClient(app) as client:
        runner: ScanRunner = app.ingest_context.runner
        runner.publisher.store = SlowStore(runner.publisher.store)
        pk, states = _run_to_the_end(client, raw_body(event_id=809), admin_headers)
        assert states[-1] == "done", states
        t = _stored_times(storage, pk)
        folder = cfg.data_dir / "notices"
        paths = {fmt: folder / fmt / name for fmt, name in t["files"].items()}
        assert set(paths) == {"gcn-json", "voevent"}
        wait_for(lambda: all(p.exists() for p in paths.values()), what="notices delivered")
    issued: datetime = t["issued"]
    gcn = json.loads(paths["gcn-json"].read_bytes())
    # GCN JSON dates to the millisecond, VOEvent Who/Date to the second (truncated).
    alert_datetime = datetime.fromisoformat(gcn["alert_datetime"])
    assert abs(alert_datetime - issued) <= timedelta(milliseconds=0.5)
    assert _who_date(paths["voevent"].read_bytes()) == issued.replace(microsecond=0)
    # Dated in the transaction that stored it, after the slow placing of its files ...
    assert abs(issued - t["finished"]) < SAME_TRANSACTION, t
    assert issued - t["last_partial"] >= timedelta(seconds=DELAY_S), t
    # ... so later than the scan's last progress by at least the delay, both in the notices.
    assert alert_datetime - t["last_partial"] >= timedelta(seconds=DELAY_S - 0.001)
