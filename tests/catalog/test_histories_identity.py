"""Issue 14: one alert per real event when a source misprints its number (IceCube-201221A),
and stable revision numbers and DOI versions when a late earlier notice arrives.

Expectations come from this file's own reading of the bundled sources (split lines and the
csv module), never from the importers.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from catalog.importers import iter_paths, sample_paths
from catalog.service import import_files
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage
from catalog.storage.identities import Claim, canonical_ids

SAMPLE = {p.name: p for p in sample_paths()}


def _amon_rows(run: int) -> dict[int, tuple[int, datetime]]:
    """Rev -> (event number, time) of the AMON Gold/Bronze rows of ``run``."""
    out = {}
    for line in SAMPLE["amon_table_gold_bronze.txt"].read_text().splitlines():
        f = line.split()
        if len(f) > 5 and f[0] == str(run):
            t = datetime.strptime(f"{f[3]} {f[4]}", "%y/%m/%d %H:%M:%S.%f").replace(tzinfo=UTC)
            out[int(f[2])] = (int(f[1]), t)
    return out


def _icecat_row(run: int) -> dict[str, str]:
    with SAMPLE["IceCube_Gold_Bronze_Tracks.csv"].open(newline="") as f:
        return next(r for r in csv.DictReader(f) if r["RUNID"] == str(run))


def _events_of_run(engine: Engine, run: int) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT id, event_id, name, conflicts FROM events WHERE run_id = :r"), {"r": run})]


def _revisions(engine: Engine, event_pk: int) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT number, source, source_rev, provenance FROM revisions "
            "WHERE event_pk = :e ORDER BY number"), {"e": event_pk})]


def test_201221A_misnumbered_rev0_is_the_same_alert(storage: CatalogStorage,
                                                    engine: Engine) -> None:
    rows = _amon_rows(134817)
    icecat = _icecat_row(134817)
    right = int(icecat["EVENTID"])
    # The sources: Rev 0 under another number, same run and time as Rev 1 and IceCat-1.
    assert rows[0][0] != right == rows[1][0]
    assert rows[0][1] == rows[1][1]
    report = import_files(storage, [SAMPLE["amon_table_gold_bronze.txt"],
                                    SAMPLE["IceCube_Gold_Bronze_Tracks.csv"]])
    assert report.refused == []
    [(pk, event_id, name, conflicts)] = _events_of_run(engine, 134817)
    assert event_id == right and name == "IceCube-" + icecat["NAME"][2:]
    revs = _revisions(engine, pk)
    assert [(n, s, rev) for n, s, rev, _ in revs] == [
        (0, "gcn-amon", 0), (1, "gcn-amon", 1), (2, "icecat-1", None)]
    # Rev 0 keeps its source's claim; the event lists the disagreement.
    assert revs[0][3]["event_id_claimed"] == rows[0][0]
    assert revs[0][3]["source_key_claimed"].endswith(f":134817:{rows[0][0]}:0")
    assert [(c["field"], c["other_value"], c["kept_value"]) for c in conflicts
            if c["field"] == "event_id"] == [("event_id", rows[0][0], right)]


def test_misnumbered_row_joins_an_event_stored_earlier(storage: CatalogStorage,
                                                       engine: Engine, tmp_path: Path) -> None:
    """IceCat-1 first, the AMON table in a later import: still one alert."""
    import_files(storage, [SAMPLE["IceCube_Gold_Bronze_Tracks.csv"]])
    import_files(storage, [SAMPLE["amon_table_gold_bronze.txt"]])
    [(pk, event_id, _, _)] = _events_of_run(engine, 134817)
    assert event_id == int(_icecat_row(134817)["EVENTID"])
    assert sorted(rev for _, _, rev, _ in _revisions(engine, pk) if rev is not None) == [0, 1]


def _import_voevent(storage: CatalogStorage, rev: int) -> None:
    report = import_files(storage, [SAMPLE[f"IceCube_134191_017593623_{rev}.xml"]])
    assert report.refused == [] and report.revisions_created == 1


def _numbers(engine: Engine) -> list[tuple[int, int, bool]]:
    """(number, Rev, is current) of IceCube-200615A's revisions, by number."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT r.number, r.source_rev, e.current_revision_pk = r.id FROM revisions r "
            "JOIN events e ON e.id = r.event_pk WHERE e.run_id = 134191 ORDER BY r.number"))]


def test_late_rev0_before_any_doi_takes_its_place(storage: CatalogStorage,
                                                  engine: Engine) -> None:
    _import_voevent(storage, 1)
    _import_voevent(storage, 0)
    assert _numbers(engine) == [(0, 0, False), (1, 1, True)]


def test_late_rev0_after_a_doi_keeps_doi_versions(storage: CatalogStorage, engine: Engine) -> None:
    """Once a version DOI names Rev 1 its number (the DOI's version) never changes: the
    late Rev 0 comes after it; Rev 1 stays current (the latest notice)."""
    fair = FairStorage(engine)
    _import_voevent(storage, 1)
    fair.mint_missing("10.5072", "local")
    with engine.connect() as conn:
        before = conn.execute(text(
            "SELECT d.doi, d.revision_pk, r.number FROM dois d JOIN revisions r "
            "ON r.id = d.revision_pk")).all()
    _import_voevent(storage, 0)
    fair.mint_missing("10.5072", "local")
    assert _numbers(engine) == [(0, 1, True), (1, 0, False)]
    with engine.connect() as conn:
        after = conn.execute(text(
            "SELECT d.doi, d.revision_pk, r.number, r.source_rev FROM dois d JOIN revisions r "
            "ON r.id = d.revision_pk ORDER BY r.number")).all()
    assert [tuple(a[:3]) for a in after[:1]] == [tuple(b) for b in before]
    assert [(a.number, a.source_rev) for a in after] == [(0, 1), (1, 0)]


def _circular_names_by_day() -> dict[str, set[str]]:
    """YYMMDD -> the track alert names the circulars index's subjects give for that day."""
    out: dict[str, set[str]] = {}
    with SAMPLE["gcn_circulars_icecube_names.csv"].open(newline="") as f:
        for row in csv.DictReader(f):
            for m in re.finditer(r"IceCube-(\d{6})([A-Z])\b", row["Subject"], re.IGNORECASE):
                out.setdefault(m[1], set()).add(f"IceCube-{m[1]}{m[2].upper()}")
    return out


def test_unnamed_alerts_have_no_name_in_any_source(storage: CatalogStorage,
                                                   engine: Engine) -> None:
    """The alerts left unnamed are those no source names: not in IceCat-1, and every
    circular name of their day held by another alert (the 10 of this sample)."""
    report = import_files(storage, list(iter_paths(sample_paths())))
    assert report.refused == []
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT run_id, event_id, name, stream, event_time "
                                 "FROM events")).all()
    with SAMPLE["IceCube_Gold_Bronze_Tracks.csv"].open(newline="") as f:
        catalogued = {(int(r["RUNID"]), int(r["EVENTID"])) for r in csv.DictReader(f)}
    held = {r.name for r in rows if r.name}
    circulars = _circular_names_by_day()
    unnamed = [r for r in rows if r.name is None]
    for r in unnamed:
        assert (r.run_id, r.event_id) not in catalogued
        day = r.event_time.astimezone(UTC).strftime("%y%m%d")
        assert circulars.get(day, set()) <= held, (r.run_id, r.event_id)
    assert len(unnamed) == 10
    # A name left out is one no alert holds (160731A, 181023A, 201115A are held).
    left = {r.reason.split()[1] for r in report.left_out if r.reason.startswith("name ")}
    assert left and not left & held


def test_only_a_lost_digit_is_a_misprint() -> None:
    """Numbers that differ by a changed digit are two events even at one time and place
    (the benchmark's synthetic notices); a lost digit at the same time and place is one."""
    t = datetime(2020, 12, 21, 12, 36, 53, 450000, tzinfo=UTC)

    def claim(event_id: int, rev: int) -> Claim:
        return Claim(event_id, t, 0.01, 262.5, 41.4, 1.0, rev=rev)

    assert canonical_ids([claim(1000000, 0), claim(1000001, 0)]) == {}
    assert canonical_ids([claim(2917585, 0), claim(29175858, 1)]) == {2917585: 29175858}
    later = Claim(2917585, t.replace(second=54), 0.01, 262.5, 41.4, 1.0)
    assert canonical_ids([later, claim(29175858, 1)]) == {}
