"""Issue 16 item 10, the smaller items: bad settings stop start-up with one clear line each
(scan nsides included), an empty rescan body means "the same", a 401 names its scheme,
``nufair run`` loads the sample only into an empty catalog."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from catalog.storage.events import CatalogStorage
from nufair.app import create_app
from nufair.cli import _catalog_empty
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.helpers import reco_record

REPO = Path(__file__).parents[2]


def test_bad_settings_give_one_clear_line_each(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUFAIR_DATABASE_URL": db_url,
           "NUFAIR_SCAN_NSIDES": "100:0", "NUFAIR_PORT": "eighty",
           "NUFAIR_DISPATCHER_MAX_ATTEMPTS": "-1"}
    proc = subprocess.run([sys.executable, "-m", "nufair.cli", "migrate"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = sorted(proc.stderr.strip().splitlines())
    assert len(lines) == 3, proc.stderr
    attempts, port, nsides = lines
    assert port.startswith("bad setting NUFAIR_PORT: ") and "integer" in port
    assert attempts.startswith("bad setting NUFAIR_DISPATCHER_MAX_ATTEMPTS: ")
    assert nsides == "bad setting NUFAIR_SCAN_NSIDES: nside must be a power of two, got 100"


def test_nsides_that_do_not_increase_are_refused_at_start_up() -> None:
    try:
        Settings(scan_nsides="64:0,8:4")
    except ValueError as exc:
        assert "nsides must increase" in str(exc)
    else:
        raise AssertionError("decreasing nsides were accepted")


def test_an_empty_rescan_body_means_the_same_scan(settings: Settings,
                                                  admin_headers: dict[str, str]) -> None:
    cfg = settings.model_copy(update={"scan_runner_enabled": False,
                                      "dispatcher_enabled": False})
    with TestClient(create_app(cfg)) as client:
        first = client.post("/api/v1/scans", json={"inline_event": raw_body(event_id=9),
                                                   "nsides": "4:0,8:2", "labels": ["x"]},
                            headers=admin_headers).json()
        again = client.post(f"/api/v1/scans/{first['id']}/rescan", headers=admin_headers)
        assert again.status_code == 201, again.text
        body = again.json()
        assert body["origin_scan"] == first["id"] and body["config"] == first["config"]
        assert body["labels"] == ["x"]
        bad = client.post(f"/api/v1/scans/{first['id']}/rescan", content=b"{",
                          headers={**admin_headers, "Content-Type": "application/json"})
        assert bad.status_code in (400, 422)
        anonymous = client.post(f"/api/v1/scans/{first['id']}/rescan")
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")


def test_nufair_run_loads_the_sample_only_into_an_empty_catalog(
        db_url: str, storage: CatalogStorage) -> None:
    assert _catalog_empty(db_url)
    storage.import_records([reco_record()])
    assert not _catalog_empty(db_url)
