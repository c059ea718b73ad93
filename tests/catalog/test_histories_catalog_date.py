"""Issue 14: an IceCat-1 row is a revision of kind ``catalog`` issued when the catalogue was
published (the month ``catalog/sample/SOURCES.md`` states, its first day), never when nufair
imported it; it is placed among the alert's notices by that date, and the FAIR records of an
alert that only IceCat-1 holds are dated by it.

Expectations come from this file's own reading of SOURCES.md and the IceCat-1 CSV.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from catalog.fair.config import FairConfig
from catalog.importers import sample_paths
from catalog.notices.parsed import Source
from catalog.service import import_files
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage
from tests.catalog.records_factory import record

SAMPLE = {p.name: p for p in sample_paths()}
CSV = SAMPLE["IceCube_Gold_Bronze_Tracks.csv"]


def _published() -> datetime:
    """The first day of the month SOURCES.md gives for IceCat-1's publication."""
    sources = (CSV.parent / "SOURCES.md").read_text()
    line = next(x for x in sources.splitlines() if x.startswith(f"| `{CSV.name}`"))
    m = re.search(r"published (\d{4})-(\d{2})", line)
    assert m is not None, line
    return datetime(int(m[1]), int(m[2]), 1, tzinfo=UTC)


def _rows() -> list[dict[str, str]]:
    with CSV.open(newline="") as f:
        return list(csv.DictReader(f))


def test_catalogue_rows_are_issued_at_publication(storage: CatalogStorage,
                                                  engine: Engine) -> None:
    published = _published()
    assert published == datetime(2023, 11, 1, tzinfo=UTC)
    assert import_files(storage, [CSV]).refused == []
    with engine.connect() as conn:
        revs = conn.execute(text(
            "SELECT e.run_id, e.event_id, r.kind, r.issued_at, r.created_at FROM revisions r "
            "JOIN events e ON e.id = r.event_pk WHERE r.source = 'icecat-1'")).all()
    assert {(r.run_id, r.event_id) for r in revs} == {
        (int(row["RUNID"]), int(row["EVENTID"])) for row in _rows()}
    assert {(r.kind, r.issued_at) for r in revs} == {("catalog", published)}
    # Imported now, three years after the catalogue was published.
    assert all(r.created_at - r.issued_at > timedelta(days=365) for r in revs)


def test_catalogue_row_is_placed_among_notices_by_its_date(storage: CatalogStorage,
                                                           engine: Engine) -> None:
    """A notice issued before the publication comes before the catalogue row, one issued
    after it (a later update) after it and is the current revision, whatever the order of
    import."""
    published = _published()
    row = next(r for r in _rows() if r["NAME"] == "IC200615A")
    run, event = int(row["RUNID"]), int(row["EVENTID"])
    late = record(run, event, rev=2, issued=published + timedelta(days=30))
    early = record(run, event, rev=0, issued=datetime(2020, 6, 15, 14, 50, 6, tzinfo=UTC))
    storage.import_records([late])
    import_files(storage, [CSV])
    storage.import_records([early])
    with engine.connect() as conn:
        history = conn.execute(text(
            "SELECT r.number, r.kind, r.source, r.source_rev, "
            "e.current_revision_pk = r.id AS current FROM revisions r "
            "JOIN events e ON e.id = r.event_pk WHERE e.run_id = :r ORDER BY r.number"),
            {"r": run}).all()
    assert [tuple(h) for h in history] == [
        (0, "initial", Source.GCN_VOEVENT.value, 0, False),
        (1, "catalog", Source.ICECAT1.value, None, False),
        (2, "update", Source.GCN_VOEVENT.value, 2, True)]


def test_records_of_a_catalogue_only_alert_are_dated_by_publication(
        storage: CatalogStorage, client: TestClient) -> None:
    """An alert of 2011 that only IceCat-1 holds: DataCite's Issued date and the citation's
    year are the catalogue's publication, not the import."""
    published = _published()
    row = next(r for r in _rows() if r["START"].startswith("2011-"))
    import_files(storage, [CSV])
    name = "IceCube-" + row["NAME"][2:]
    cfg = FairConfig(base_url="http://testserver")
    FairStorage(storage.engine).mint_missing(cfg.doi_prefix, cfg.provider)
    r = client.get(f"/records/{name}",
                   headers={"Accept": "application/vnd.datacite.datacite+json"})
    assert r.status_code == 200, r.text
    dates = {d["dateType"]: d["date"] for d in r.json()["dates"]}
    assert dates["Issued"].startswith(published.date().isoformat())
    assert dates["Collected"].startswith(row["START"][:10])
    assert r.json()["publicationYear"] in (published.year, str(published.year))
