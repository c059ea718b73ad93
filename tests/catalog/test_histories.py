"""One history per alert (issue 14), checked against the bundled sources read here.

The expectations come from this file's own reading of the sources (plain regexes and the
csv module, astropy for times), never from the importers: which notices exist per event,
their Revs, IceCat-1's CR_VETO rows, the names the GCN circulars use.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from astropy.io.votable import parse_single_table
from astropy.time import Time
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from catalog.importers import iter_paths, sample_paths
from catalog.service import ImportReport, import_files
from catalog.storage.events import CatalogStorage

SAMPLE = {p.name: p for p in sample_paths()}
SOURCES = Path(__file__).parents[1] / "data" / "sources"
THIRD_PARTY = Path(__file__).parents[1] / "data" / "notices" / (
    "IceCube_Gold_Bronze_Tracks_2023-2024_additions.csv")
CASCADES = SOURCES / "IceCube_cascade.csv"

Key = tuple[int, int]


def misnumbered() -> dict[Key, Key]:
    """AMON Gold/Bronze rows filed under another event number than the other rows of the
    same run and time (to the second): (run, claimed) -> (run, the number IceCat-1 gives)."""
    at: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for line in SAMPLE["amon_table_gold_bronze.txt"].read_text().splitlines():
        f = line.split()
        if len(f) > 5 and f[0].isdigit() and f[5] in ("GOLD", "BRONZE"):
            at[(f[0], f[3], f[4][:8])].add(int(f[1]))
    catalog = {(int(r["RUNID"]), int(r["EVENTID"])) for r in _icecat()}
    out = {}
    for (run, _, _), ids in at.items():
        right = [i for i in ids if (int(run), i) in catalog]
        out.update({(int(run), i): (int(run), right[0]) for i in ids if len(ids) > 1
                    and len(right) == 1 and i != right[0]})
    return out


def _gold_bronze_notices() -> dict[Key, set[int]]:
    """(run, event) -> the Revs of the GCN AMON Gold/Bronze table (a misnumbered row under
    its event's number)."""
    out: dict[Key, set[int]] = defaultdict(set)
    moved = misnumbered()
    for line in SAMPLE["amon_table_gold_bronze.txt"].read_text().splitlines():
        m = re.match(r"^\s*(\d+)\s+(\d+)\s+(\d)\s+\d\d/\d\d/\d\d\s+\S+\s+(GOLD|BRONZE)\b", line)
        if m:
            key = (int(m[1]), int(m[2]))
            out[moved.get(key, key)].add(int(m[3]))
    return out


def _legacy_notices() -> dict[Key, dict[str, set[str]]]:
    """(run, event) -> stream -> the distinct rows (notices) of the legacy HESE/EHE tables.
    One event can be both an EHE and a HESE alert: two series of notices."""
    out: dict[Key, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for name in ("amon_table_HESE_events.txt", "amon_table_EHE_events.txt"):
        for line in SAMPLE[name].read_text().splitlines():
            m = re.match(r"^\s*(\d+)\s+(\d+)\s+\d\d/\d\d/\d\d\s+\S+\s+(HESE|EHE)", line)
            if m:  # EventNum RunNum
                out[(int(m[2]), int(m[1]))][m[3].lower()].add(" ".join(line.split()))
    return out


def _voevent_notices() -> dict[Key, set[int]]:
    """(run, event) -> the Revs of the bundled real GCN VOEvents."""
    out: dict[Key, set[int]] = defaultdict(set)
    for name, path in SAMPLE.items():
        if name.endswith(".xml"):
            xml = path.read_text()
            run = int(re.search(r'name="run_id"[^>]*value="(\d+)"', xml)[1])  # type: ignore[index]
            event = int(re.search(r'name="event_id"[^>]*value="(\d+)"', xml)[1])  # type: ignore[index]
            rev = re.search(r'name="Rev"[^>]*value="(\d+)"', xml)
            ivorn_rev = re.search(r'ivorn="[^"]*_(\d+)"', xml)
            out[(run, event)].add(int((rev or ivorn_rev)[1]))  # type: ignore[index]
    return out


def _icecat() -> list[dict[str, str]]:
    with SAMPLE["IceCube_Gold_Bronze_Tracks.csv"].open(newline="") as f:
        return list(csv.DictReader(f))


def _expected() -> dict[Key, tuple[list[int], bool]]:
    """(run, event) -> (the Revs of its GCN notices, whether IceCat-1 has a row for it)."""
    revs: dict[Key, set[int]] = defaultdict(set)
    for source in (_gold_bronze_notices(), _voevent_notices()):
        for key, found in source.items():
            revs[key] |= found
    legacy: dict[Key, list[int]] = {}
    for key, streams in _legacy_notices().items():
        legacy[key] = sorted(n for rows in streams.values() for n in range(len(rows)))
    catalog = {(int(r["RUNID"]), int(r["EVENTID"])) for r in _icecat()}
    return {key: (legacy.get(key) or sorted(revs.get(key, set())), key in catalog)
            for key in revs.keys() | legacy.keys() | catalog}


@pytest.fixture
def loaded(storage: CatalogStorage) -> ImportReport:
    report = import_files(storage, list(iter_paths(sample_paths())))
    assert report.refused == []
    return report


_Rev = tuple[int, str, str, int | None, bool, str]


def _histories(engine: Engine) -> dict[Key, list[_Rev]]:
    """(run, event) -> its revisions (number, kind, source, Rev, is current, series)."""
    out: dict[Key, list[_Rev]] = defaultdict(list)
    with engine.connect() as conn:
        for r in conn.execute(text(
                "SELECT e.run_id, e.event_id, r.number, r.kind, r.source, r.source_rev, "
                "r.provenance, r.source_key, e.current_revision_pk = r.id AS cur "
                "FROM revisions r "
                "JOIN events e ON e.id = r.event_pk ORDER BY e.id, r.number")):
            rev = r.source_rev
            if rev is None and r.provenance.get("rev_inferred"):
                rev = int(r.source_key.rsplit(":", 1)[1])  # counted from the table's bottom
            series = r.source_key.split(":")[1] if r.source_key.startswith("gcn:") else ""
            out[(r.run_id, r.event_id)].append(
                (r.number, r.kind, r.source, rev, r.cur, series))
    return out


def test_one_revision_per_notice_in_notice_order(loaded: ImportReport, engine: Engine) -> None:
    """Every alert: one revision per distinct notice, by Rev, the catalogue row last; no
    initial after an update; the current revision is the latest."""
    expected = _expected()
    got = _histories(engine)
    assert set(got) == set(expected)
    assert misnumbered() == {(134817, 2917585): (134817, 29175858)}
    assert len(got) == 392  # 393 event numbers in the sources, one of them a misprint
    for key, (revs, in_catalog) in expected.items():
        history = got[key]
        assert len(history) == len(revs) + in_catalog, key
        assert [n for n, *_ in history] == list(range(len(history)))
        notices = [h for h in history if h[1] != "catalog"]
        assert [h[3] for h in notices] == revs, key
        for series in {h[5] for h in notices}:
            kinds = [h[1] for h in notices if h[5] == series]
            if revs[0] == 0:
                assert kinds[0] in ("initial", "retraction"), key
            assert "initial" not in kinds[1:], key
        kinds = [h[1] for h in history]
        if in_catalog:
            assert kinds[-1] == "catalog" and history[-1][2] == "icecat-1", key
        assert "catalog" not in kinds[:-1], key
        current = [h for h in history if h[4]]
        retractions = [h for h in history if h[1] == "retraction"]
        assert current == [retractions[-1] if retractions else history[-1]], key


def test_200615A_is_rev0_rev1_and_the_catalogue_row(loaded: ImportReport,
                                                    storage: CatalogStorage) -> None:
    ev = storage.get_event("IceCube-200615A")
    assert [(r.number, r.kind, r.source_rev) for r in ev.revisions] == [
        (0, "initial", 0), (1, "update", 1), (2, "catalog", None)]
    # Rev 0 and Rev 1 came as a VOEvent and as an AMON row each: one revision, two sources.
    for r in ev.revisions[:2]:
        assert r.provenance["sources"] == ["gcn-amon", "gcn-voevent"]
        assert r.ivorn is not None and r.ivorn.endswith(f"_{r.source_rev}")
    assert [r.issued_at for r in ev.revisions[:2]] == [
        datetime(2020, 6, 15, 14, 50, 6, tzinfo=UTC), datetime(2020, 6, 15, 16, 10, 36, tzinfo=UTC)]
    assert ev.revisions[2].source == "icecat-1" and ev.revisions[2].is_current
    # IceCat-1's microsecond time, not the VOEvent's 10 ms one.
    row = next(r for r in _icecat() if r["NAME"] == "IC200615A")
    assert ev.event_time == datetime.fromisoformat(row["START"]).replace(tzinfo=UTC)
    assert ev.time_precision_s == pytest.approx(1e-6)


def test_241113A_time_is_the_rev0_row_and_the_conflict_is_recorded(
        loaded: ImportReport, storage: CatalogStorage) -> None:
    rows = [line.split() for line in SAMPLE["amon_table_gold_bronze.txt"].read_text().splitlines()
            if line.startswith("140078   30891383")]
    rev0 = next(r for r in rows if r[2] == "0")
    ev = storage.get_event("140078_30891383")
    assert ev.event_time == datetime.strptime(f"20{rev0[3]} {rev0[4]}", "%Y/%m/%d %H:%M:%S.%f"
                                              ).replace(tzinfo=UTC)
    assert ev.event_time.strftime("%H:%M:%S.%f") == "00:22:20.680000"
    assert ev.time_precision_s == pytest.approx(0.01)
    assert [c["other_value"] for c in ev.conflicts] == ["2024-11-13T14:38:33+00:00"]


def _vetoed() -> set[Key]:
    rows = (SOURCES / "vetod_events_icecat1.txt").read_text().splitlines()
    from_icecat2 = {(int(a), int(b)) for a, b in (r.split() for r in rows if r[:1].isdigit())}
    from_icecat1 = {(int(r["RUNID"]), int(r["EVENTID"])) for r in _icecat()
                    if r["CR_VETO"].upper() == "TRUE"}
    assert from_icecat1 == from_icecat2 and len(from_icecat1) == 8
    return from_icecat1


def test_cr_veto_alerts_are_likely_background_everywhere(
        loaded: ImportReport, engine: Engine, client: TestClient) -> None:
    vetoed = _vetoed()
    with engine.connect() as conn:  # what TAP publishes
        tap = {(r.run_id, r.event_id): r for r in conn.execute(text(
            "SELECT run_id, event_id, ra, dec, status, status_reason FROM nufair.alerts"))}
    assert {k for k, r in tap.items() if r.status == "likely_background"} == vetoed
    for key in vetoed:
        body = client.get(f"/api/v1/events/{key[0]}_{key[1]}").json()
        assert body["status"] == "likely_background"
        assert "CR_VETO" in body["status_reason"]
        r = tap[key]
        scs = client.get("/scs", params={"RA": r.ra, "DEC": r.dec, "SR": 1e-4})
        table = parse_single_table(io.BytesIO(scs.content)).to_table(use_names_over_ids=True)
        assert "status" in table.colnames  # in the default VERB (2)
        row = next(t for t in table if t["name"] == body["name"])
        assert row["status"] == "likely_background"
    assert [r.status for r in tap.values()].count("retracted") == 1
    assert sum(r.status == "live" for r in tap.values()) == len(tap) - 9


def _circular_names() -> dict[str, str]:
    """Track alert name -> its day (YYMMDD), from the bundled circulars index subjects."""
    out = {}
    with SAMPLE["gcn_circulars_icecube_names.csv"].open(newline="") as f:
        for row in csv.DictReader(f):
            for m in re.finditer(r"IceCube-(\d{6})([A-Z])\b", row["Subject"]):
                out[f"IceCube-{m[1]}{m[2]}"] = m[1]
    return out


def test_names_from_every_source(loaded: ImportReport, engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, run_id, event_id, event_time, stream "
                                 "FROM events")).all()
    names = {r.name: r for r in rows if r.name}
    assert len(names) == sum(r.name is not None for r in rows)  # unique
    assert {"IceCube-" + r["NAME"][2:] for r in _icecat()} <= set(names)
    # The two alerts of 2024-03-27, named apart by the circulars, A first.
    a, b = names["IceCube-240327A"], names["IceCube-240327B"]
    assert (a.run_id, a.event_id) != (b.run_id, b.event_id) and a.event_time < b.event_time
    # Every circular name of a day on which we hold as many track alerts as it has names.
    per_day: dict[str, list[str]] = defaultdict(list)
    for name, day in _circular_names().items():
        per_day[day].append(name)
    alerts: dict[str, int] = defaultdict(int)
    for r in rows:
        if r.stream != "cascade":
            alerts[r.event_time.astimezone(UTC).strftime("%y%m%d")] += 1
    named = [n for day, ns in per_day.items() if alerts[day] == len(ns) for n in ns]
    assert len(named) > 100
    assert set(named) <= set(names)


def _third_party_left_out() -> set[int]:
    """Lines of the third-party additions that cannot be imported, found independently."""
    with THIRD_PARTY.open(newline="") as f:
        rows = list(csv.DictReader(f))
    bad = set()
    seen: dict[Key, list[int]] = defaultdict(list)
    for line, row in enumerate(rows, start=2):
        if row["EVENTMJD"] not in ("", "None"):
            start = Time(row["START"].replace(" ", "T"), scale="utc")
            if abs((start - Time(float(row["EVENTMJD"]), format="mjd", scale="utc")).sec) > 1:
                bad.add(line)
                continue
        seen[(int(row["RUNID"]), int(row["EVENTID"]))].append(line)
    bad |= {line for lines in seen.values() if len(lines) > 1 for line in lines}
    return bad


def test_partial_imports_report_every_row_left_out(storage: CatalogStorage,
                                                   engine: Engine) -> None:
    report = import_files(storage, [THIRD_PARTY, CASCADES])
    assert report.refused == []
    assert {r.line for r in report.left_out if r.file == str(THIRD_PARTY)} == \
        _third_party_left_out()
    with CASCADES.open(newline="") as f:
        cascades = {(int(r["RUNID"]), int(r["EVENTID"])) for r in csv.DictReader(f)}
    with engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT e.run_id, e.event_id, e.name, r.source FROM events e "
            "JOIN revisions r ON r.event_pk = e.id WHERE e.stream = 'cascade'")).all()
    assert {(r.run_id, r.event_id) for r in stored} == cascades and len(cascades) == 26
    assert all(r.source == "third-party" and r.name.startswith("IceCube-Cascade-")
               for r in stored)


def test_strict_keeps_all_or_nothing(storage: CatalogStorage) -> None:
    report = import_files(storage, [THIRD_PARTY], strict=True)
    assert [(p, code) for p, code, _ in report.refused] == [(THIRD_PARTY, "invalid_input")]
    assert storage.count_events() == 0


def test_reconciliation_report_of_all_bundled_sources(storage: CatalogStorage) -> None:
    report = import_files(storage, [*iter_paths(sample_paths()), THIRD_PARTY, CASCADES])
    assert report.refused == []
    alerts = report.alerts(storage)
    third = {(int(r["RUNID"]), int(r["EVENTID"])) for r in csv.DictReader(THIRD_PARTY.open())}
    cascades = {(int(r["RUNID"]), int(r["EVENTID"])) for r in csv.DictReader(CASCADES.open())}
    assert len(alerts) == len(_expected().keys() | third | cascades)
    by_key = {(a.run_id, a.event_id): a for a in alerts}
    assert by_key[(134191, 17593623)].sources == ["gcn-amon", "gcn-voevent", "icecat-1"]
    assert by_key[(140078, 30891383)].conflicts[0]["field"] == "event_time"
    voevents = _voevent_notices()
    both = [a for a in alerts if {"gcn-amon", "gcn-voevent"} <= set(a.sources)]
    assert len(both) == sum(1 for k in voevents if k in _gold_bronze_notices())
    assert sum(a.status == "likely_background" for a in alerts) == 8


@pytest.mark.parametrize("rev", [0, 1])
def test_rerendered_200615A_notices_carry_the_real_rev_and_dates(
        loaded: ImportReport, engine: Engine, rev: int) -> None:
    """nufair's own notices of the imported Rev 0 / Rev 1: the real Rev, Pkt_Ser_Num, issue
    date and record_number; the event time as the real notice within its 10 ms."""
    from catalog.notices.model import render
    from catalog.publish import PublishConfig, notice_input
    from catalog.storage.unit import catalog_tx

    real = SAMPLE[f"IceCube_134191_017593623_{rev}.xml"].read_text()

    def param(xml: str, name: str) -> str:
        return re.search(rf'name="{name}"[^>]*value="([^"]*)"', xml)[1]  # type: ignore[index]

    with catalog_tx(engine) as tx:
        pk = tx.conn.execute(text(
            "SELECT r.id FROM revisions r JOIN events e ON e.id = r.event_pk "
            "WHERE e.name = 'IceCube-200615A' AND r.number = :n"), {"n": rev}).scalar_one()
        facts = tx.outbox.notice_facts(pk)
    n = notice_input(facts, "ivo://nufair.test/IceCube#x",
                     PublishConfig(ivorn_base="ivo://nufair.test/IceCube", routes=()))
    xml = render("voevent", n).payload.decode()
    for name in ("Rev", "Pkt_Ser_Num", "Packet_Type", "AMON_ID", "run_id", "event_id"):
        assert param(xml, name) == param(real, name), name
    date = re.search(r"<Date>([^<]+)</Date>", real)[1]  # type: ignore[index]
    assert re.search(r"<Date>([^<]+)</Date>", xml)[1].startswith(date)  # type: ignore[index]
    iso = re.search(r"<ISOTime>([^<]+)</ISOTime>", real)[1]  # type: ignore[index]
    mine = re.search(r"<ISOTime>([^<]+)</ISOTime>", xml)[1]  # type: ignore[index]
    assert abs((datetime.fromisoformat(mine.rstrip("Z")) - datetime.fromisoformat(iso))
               .total_seconds()) < 0.01
    doc = json.loads(render("gcn-json", n).payload)
    assert doc["record_number"] == rev + 1
    assert doc["alert_datetime"].startswith(date)


def test_admin_import_answers_every_row_left_out(client: TestClient,
                                                 admin_headers: dict[str, str]) -> None:
    """HTTP: the good rows are stored, the bad ones listed; strict=true stores nothing."""
    body = THIRD_PARTY.read_bytes()
    strict = client.post("/api/v1/admin/import", content=body, headers=admin_headers,
                         params={"filename": THIRD_PARTY.name, "strict": "true"})
    assert strict.status_code == 422, strict.text
    r = client.post("/api/v1/admin/import", content=body, headers=admin_headers,
                    params={"filename": THIRD_PARTY.name, "report": "true"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert {row["line"] for row in answer["left_out"]} == _third_party_left_out()
    assert answer["revisions_created"] == len(answer["alerts"]) > 0
    assert all(a["sources"] == ["third-party"] for a in answer["alerts"])
