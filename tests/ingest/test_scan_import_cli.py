"""``nufair scan import FILE --event KEY``: skymap_scanner's result stored from the command
line, refused with the error's code for another event; ``nufair scan EVENT_FILE`` unchanged."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from catalog.storage.events import CatalogStorage, EventQuery
from nufair.cli import main
from tests.ingest.events import raw_body

THEIRS = resources.files("tests.data.reco").joinpath(
    "i3live/run00138632.evt000031747601.millipede_wilks.nside1.json")


def test_scan_import_from_the_command_line(db_url: str, tmp_path: Path,
                                           storage: CatalogStorage,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUFAIR_DATABASE_URL", db_url)
    monkeypatch.setenv("NUFAIR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NUFAIR_SCAN_RUNNER_ENABLED", "false")
    ours, other = tmp_path / "event.json", tmp_path / "other.json"
    ours.write_text(json.dumps(raw_body(run_id=138632, event_id=31747601)))
    other.write_text(json.dumps(raw_body(event_id=7)))
    runner = CliRunner()
    ingested = runner.invoke(main, ["ingest", "--no-progress", "--deliver-timeout", "0",
                                    str(ours), str(other)])
    assert ingested.exit_code == 0, ingested.output
    names = {(e.run_id, e.event_id): e.name for e in storage.list_events(EventQuery()).items}
    result = tmp_path / "theirs.json"
    result.write_text(THEIRS.read_text("utf-8"))

    refused = runner.invoke(main, ["scan", "import", str(result), "--event",
                                   str(names[(140001, 7)])])
    assert refused.exit_code == 1
    assert "[scan_result_mismatch]" in refused.output

    done = runner.invoke(main, ["scan", "import", str(result), "--event",
                                str(names[(138632, 31747601)]), "--label", "cli",
                                "--publish", "update"])
    assert done.exit_code == 0, done.output
    assert "update revision 1" in done.output and "run 138632 event 31747601" in done.output
    (event,) = [e for e in storage.list_events(EventQuery()).items if e.event_id == 31747601]
    assert event.revision_count == 2


def test_nufair_scan_help_still_lists_the_scan() -> None:
    out = CliRunner().invoke(main, ["scan", "--help"])
    assert out.exit_code == 0 and "import FILE --event KEY" in out.output
    bad = CliRunner().invoke(main, ["scan", "missing.json", "--out", "x"])
    assert bad.exit_code == 2 and "EVENT_FILE" in bad.output  # reached the scan command
