"""Disk full on the artifact store, staged for real: the artifact folder is a tiny tmpfs.

The scan's skymaps cannot be written (ENOSPC): the scan ends as failed with a readable
reason, and nothing of the update revision exists — no revision row, no tiles, no artifact
rows, no update notice — while the initial revision and its notices stay intact.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from catalog.schema.events import artifacts, revisions
from catalog.schema.outbox import notices
from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import fast_settings, wait_for


@pytest.fixture
def tiny_artifact_store(tmp_path: Path) -> Iterator[Path]:
    store = tmp_path / "artifacts"
    store.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(store)], check=True)
    try:
        yield store
    finally:
        subprocess.run(["umount", "-l", str(store)], check=False)


def test_disk_full_fails_the_scan_cleanly(settings: Settings, tiny_artifact_store: Path,
                                          admin_headers: dict[str, str]) -> None:
    assert tiny_artifact_store == settings.data_dir / "artifacts"
    cfg = fast_settings(settings)
    body = raw_body()
    with TestClient(create_app(cfg)) as client:
        r = client.post("/api/v1/events/raw", json=body, headers=admin_headers)
        assert r.status_code == 201, r.text
        (scan,) = client.get("/api/v1/scans", params={"run_id": body["run_id"]}).json()
        final = wait_for(lambda: (s := client.get(f"/api/v1/scans/{scan['id']}").json())
                         ["state"] in ("failed", "done") and s, what="scan end")
        event = client.get(f"/api/v1/events/{body['run_id']}_{body['event_id']}").json()
    assert final["state"] == "failed"
    assert "No space left on device" in (final["error"] or "")
    assert [rv["number"] for rv in event["revisions"]] == [0]
    engine = create_engine(settings.database_url.get_secret_value())  # type: ignore[union-attr]
    try:
        with engine.connect() as conn:
            n_arts = conn.execute(select(func.count()).select_from(artifacts)).scalar_one()
            n_revs = conn.execute(select(func.count()).select_from(revisions)).scalar_one()
            n_update_notices = conn.execute(
                select(func.count()).select_from(notices)
                .join(revisions, revisions.c.id == notices.c.revision_pk)
                .where(revisions.c.number > 0)).scalar_one()
    finally:
        engine.dispose()
    assert (n_arts, n_revs, n_update_notices) == (0, 1, 0)
    assert not [p for p in tiny_artifact_store.rglob("*") if p.is_file()]  # no half files
