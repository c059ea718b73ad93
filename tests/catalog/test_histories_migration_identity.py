"""Migration 0017: a database loaded before the identity fix holds IceCube-201221A as two
alerts (the GCN AMON table files its Rev 0 under event 2917585, a digit lost; Rev 1 and
IceCat-1 under 29175858). Upgrading merges them into one alert, as a fresh import stores it,
without losing a row, and every DOI minted before stays resolvable.

The old database is built by today's importer with the identity rule switched off (the
importer of that time had none), at revision 0016. Expectations come from this file's own
reading of the bundled sources (split lines and the csv module).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Engine

from catalog.importers import parse_document, sample_paths
from catalog.notices.parsed import NoticeRecord, Source
from catalog.service import import_files
from catalog.storage import identities
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage
from nufair.app import create_app, make_engine
from nufair.migrate import upgrade
from nufair.settings import Settings

SAMPLE = {p.name: p for p in sample_paths()}
FILES = [SAMPLE["amon_table_gold_bronze.txt"], SAMPLE["IceCube_Gold_Bronze_Tracks.csv"]]
RUN = 134817


def _amon_rows() -> dict[int, tuple[int, datetime]]:
    """Rev -> (event number, time) of the AMON Gold/Bronze rows of run ``RUN``."""
    out = {}
    for line in SAMPLE["amon_table_gold_bronze.txt"].read_text().splitlines():
        f = line.split()
        if len(f) > 5 and f[0] == str(RUN):
            t = datetime.strptime(f"{f[3]} {f[4]}", "%y/%m/%d %H:%M:%S.%f").replace(tzinfo=UTC)
            out[int(f[2])] = (int(f[1]), t)
    return out


def _icecat_row() -> dict[str, str]:
    with SAMPLE["IceCube_Gold_Bronze_Tracks.csv"].open(newline="") as f:
        return next(r for r in csv.DictReader(f) if r["RUNID"] == str(RUN))


def _no_identity_rule(records: list[NoticeRecord], stored: object) -> list[NoticeRecord]:
    return list(records)


@pytest.fixture
def old_engine(empty_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A database at 0016 loaded with the two bundled files by an importer without the
    identity rule (the importer before the fix)."""
    upgrade(empty_db_url, "0016")
    eng = make_engine(empty_db_url)
    with monkeypatch.context() as m:
        m.setattr(identities, "reconcile", _no_identity_rule)
        report = import_files(CatalogStorage(eng), FILES)
    assert report.refused == []
    yield eng
    eng.dispose()


def _events(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT * FROM events WHERE run_id = :r ORDER BY id"), {"r": RUN}))


def _history(engine: Engine, event_pk: int) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT * FROM revisions WHERE event_pk = :e ORDER BY number"), {"e": event_pk}))


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("events", "revisions", "region_tiles", "dois")}


def _before(engine: Engine) -> tuple[dict[str, int], dict[int, int]]:
    """Table counts, and revision pk -> event pk, of the old database (two 201221A events)."""
    rows = _amon_rows()
    events = _events(engine)
    assert sorted(e.event_id for e in events) == sorted({rows[0][0], rows[1][0]})
    with engine.connect() as conn:
        owner: dict[int, int] = dict(conn.execute(text("SELECT id, event_pk FROM revisions")).all())
    return _counts(engine), owner


def test_two_alerts_of_201221A_migrate_into_one_as_imported(old_engine: Engine,
                                                            empty_db_url: str,
                                                            storage: CatalogStorage,
                                                            engine: Engine) -> None:
    counts, owner = _before(old_engine)
    upgrade(empty_db_url)
    rows, icecat = _amon_rows(), _icecat_row()
    [event] = _events(old_engine)
    assert event.event_id == int(icecat["EVENTID"]) == rows[1][0]
    assert event.name == "IceCube-" + icecat["NAME"][2:]
    # No row lost: one event fewer, every revision (and its tiles) kept.
    after = _counts(old_engine)
    assert after == {**counts, "events": counts["events"] - 1}
    with old_engine.connect() as conn:
        moved: dict[int, int] = dict(conn.execute(text("SELECT id, event_pk FROM revisions")).all())
    assert moved.keys() == owner.keys()
    [lost] = set(owner.values()) - set(moved.values())
    assert {pk: e for pk, e in moved.items() if e != owner[pk]} == {
        pk: event.id for pk, e in owner.items() if e == lost}
    history = _history(old_engine, event.id)
    # In notice order: Rev 0 (its source's misprinted number kept as its claim), Rev 1, the
    # IceCat-1 row; the catalogue row is current.
    assert [(r.number, r.kind, r.source, r.source_rev) for r in history] == [
        (0, "initial", "gcn-amon", 0), (1, "update", "gcn-amon", 1),
        (2, "catalog", "icecat-1", None)]
    assert [r.event_time for r in history[:2]] == [rows[0][1], rows[1][1]]
    assert history[0].provenance["event_id_claimed"] == rows[0][0]
    assert history[0].provenance["merged_event"]["event_id"] == rows[0][0]
    assert event.current_revision_pk == history[2].id
    assert [(c["field"], c["other_value"], c["kept_value"]) for c in event.conflicts
            if c["field"] == "event_id"] == [("event_id", rows[0][0], rows[1][0])]
    # The same as a fresh import of the same files at head.
    import_files(storage, FILES)
    [fresh] = _events(engine)

    def shape(ev: Any, revs: list[Any]) -> tuple[Any, ...]:
        return ((ev.event_id, ev.name, ev.event_time, ev.time_source, ev.status,
                 ev.conflicts),
                [(r.number, r.kind, r.source, r.source_rev, r.source_key, r.event_time,
                  r.provenance.get("event_id_claimed"), r.provenance.get("source_key_claimed"))
                 for r in revs])

    assert shape(event, history) == shape(fresh, _history(engine, fresh.id))


def _app(url: str, tmp_path: Path) -> TestClient:
    return TestClient(create_app(Settings(
        database_url=SecretStr(url), data_dir=tmp_path, environment="development",
        max_body_bytes=1024 * 1024)))


def _store_twin(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> str:
    """Store Rev 1 a second time, as a VOEvent under the misprinted number (the same notice
    held by both old alerts); its old source key."""
    rows = _amon_rows()
    [rec] = [r for r in parse_document(SAMPLE["amon_table_gold_bronze.txt"].read_bytes(),
                                       filename="amon_table_gold_bronze.txt")
             if r.run_id == RUN and r.source_rev == 1]
    key = rec.source_key.replace(f":{RUN}:{rows[1][0]}:", f":{RUN}:{rows[0][0]}:")
    twin = replace(rec, event_id=rows[0][0], source=Source.GCN_VOEVENT, source_key=key)
    with monkeypatch.context() as m:
        m.setattr(identities, "reconcile", _no_identity_rule)
        assert CatalogStorage(engine).import_records([twin]).revisions_created == 1
    return key


def test_dois_of_the_merged_alert_stay_resolvable(old_engine: Engine, empty_db_url: str,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """With DOIs minted before the upgrade: the kept alert's versions keep their numbers
    (DOI versions never change), Rev 0 comes after them with its own version DOI, Rev 1 held
    by both old alerts becomes one revision with both sources, and the merged alert's
    concept DOI and its Rev 1's version DOI resolve to the kept alert's records."""
    twin_key = _store_twin(old_engine, monkeypatch)
    FairStorage(old_engine).mint_missing("10.5072", "local")
    rows = _amon_rows()
    with old_engine.connect() as conn:
        dois = {(r.kind, r.event_id, r.source_rev): (r.doi, r.revision_pk) for r in conn.execute(
            text("SELECT d.kind, d.doi, d.revision_pk, e.event_id, r.source_rev FROM dois d "
                 "JOIN events e ON e.id = d.event_pk LEFT JOIN revisions r "
                 "ON r.id = d.revision_pk WHERE e.run_id = :r"), {"r": RUN})}
    merged = {dois[("concept", rows[0][0], None)][0]: dois[("concept", rows[1][0], None)][0],
              dois[("version", rows[0][0], 1)][0]: dois[("version", rows[1][0], 1)][0]}
    counts, _ = _before(old_engine)
    with old_engine.connect() as conn:
        twin_tiles = conn.execute(text(
            "SELECT count(*) FROM region_tiles t JOIN revisions r ON r.id = t.revision_pk "
            "WHERE r.source_key = :k"), {"k": twin_key}).scalar_one()
    upgrade(empty_db_url)
    [event] = _events(old_engine)
    history = _history(old_engine, event.id)
    assert [(r.number, r.source, r.source_rev) for r in history] == [
        (0, "gcn-amon", 1), (1, "icecat-1", None), (2, "gcn-amon", 0)]
    assert history[0].provenance["sources"] == ["gcn-amon", "gcn-voevent"]
    assert [(m["source_key"], m["event_id_claimed"]) for m in history[0].provenance["merged"]
            ] == [(twin_key, rows[0][0])]
    # Both claims of the misprinted number are among the event's conflicts.
    assert sorted((c["other"], c["other_value"]) for c in event.conflicts
                  if c["field"] == "event_id") == sorted([
                      (twin_key, rows[0][0]), (twin_key.rsplit(":", 1)[0] + ":0", rows[0][0])])
    after = _counts(old_engine)
    assert after == {**counts, "events": counts["events"] - 1,
                     "revisions": counts["revisions"] - 1, "dois": counts["dois"] - 2,
                     "region_tiles": counts["region_tiles"] - twin_tiles}
    with old_engine.connect() as conn:
        now = {r.doi: r.revision_pk for r in conn.execute(text(
            "SELECT doi, revision_pk FROM dois WHERE event_pk = :e"), {"e": event.id})}
        aliases = {a.doi: a.target for a in conn.execute(text(
            "SELECT a.doi, d.doi AS target FROM doi_aliases a JOIN dois d ON d.id = a.target_pk"))}
    # The twin's tiles went with it (its region is Rev 1's). Every other DOI names what it
    # named; the merged ones are aliases of the kept ones.
    assert now == {d: pk for d, pk in dois.values() if d not in merged}
    assert aliases == merged
    with _app(empty_db_url, tmp_path) as client:
        for doi, target in merged.items():
            prefix, suffix = doi.split("/")
            r = client.get(f"/doi/{prefix}/{suffix}", follow_redirects=False)
            assert r.status_code == 302
            assert r.headers["location"].endswith("/records/" + target.split("/")[1])
            page = client.get("/records/" + suffix, headers={"Accept": "application/ld+json"})
            assert page.status_code == 200
            assert target in page.text and event.name in page.text
