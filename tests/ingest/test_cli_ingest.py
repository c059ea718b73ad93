"""``nufair ingest FILE...`` runs raw events through the pipeline and delivers notices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from catalog.storage.events import CatalogStorage, EventQuery
from nufair.cli import main
from tests.ingest.events import raw_body


def test_ingest_files(db_url: str, tmp_path: Path, storage: CatalogStorage,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "event.json"
    good.write_text(json.dumps(raw_body()))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"observatory": "IceCube"}))
    monkeypatch.setenv("NUFAIR_DATABASE_URL", db_url)
    monkeypatch.setenv("NUFAIR_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(main, ["ingest", "--no-progress", str(good), str(bad),
                                       str(good)])
    assert result.exit_code == 1, result.output
    assert "refused" in result.output and "already stored" in result.output
    assert "3 notice(s) delivered, 0 pending" in result.output
    (event,) = storage.list_events(EventQuery()).items
    assert event.stream == "gold" and event.revision_count == 1
    assert len(list((tmp_path / "var" / "notices").rglob("*.*"))) == 3
