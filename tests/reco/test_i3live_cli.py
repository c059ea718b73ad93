"""``nufair ingest`` takes an I3Live message as it takes a raw event."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from click import ClickException
from click.testing import CliRunner

from catalog.storage.events import CatalogStorage, EventQuery
from nufair.cli import main

MESSAGE = resources.files("tests.data.reco").joinpath(
    "i3live/run00138632.evt000031747601_realtimeEventData.json").read_bytes()


def test_nufair_ingest_an_i3live_message(db_url: str, tmp_path: Path, storage: CatalogStorage,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "message.json"
    path.write_bytes(MESSAGE)
    broken = tmp_path / "broken.json"
    broken.write_bytes(MESSAGE.replace(b'"Q", "eNq', b'"Q", "eNx', 1))
    monkeypatch.setenv("NUFAIR_DATABASE_URL", db_url)
    monkeypatch.setenv("NUFAIR_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(main, ["ingest", "--no-progress", "--deliver-timeout", "0",
                                       str(path), str(broken)])
    assert result.exit_code == 1, result.output
    assert "run 138632 event 31747601" in result.output
    assert "[invalid_i3live_message]" in result.output and "frame 3 (Q)" in result.output
    (event,) = storage.list_events(EventQuery()).items
    assert (event.run_id, event.event_id) == (138632, 31747601)


def test_nufair_scan_reads_an_i3live_message(tmp_path: Path) -> None:
    from nufair.commands.reco import _read_event

    path = tmp_path / "message.json"
    path.write_bytes(MESSAGE)
    event = _read_event(path)
    assert (event.run_id, event.event_id, event.n_pulses) == (138632, 31747601, 888)
    broken = tmp_path / "broken.json"
    broken.write_bytes(MESSAGE.replace(b'"Q", "eNq', b'"Q", "eNx', 1))
    with pytest.raises(ClickException, match=r"frame 3 \(Q\)"):
        _read_event(broken)
