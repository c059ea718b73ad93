"""Migrations 0009 and 0014: a database filled the old way (revisions per source row,
numbered by arrival, one event time per event) becomes one history per alert without losing
a row, each notice with its own event time as a fresh import gives it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from catalog.importers import sample_paths
from nufair.migrate import upgrade

T0 = datetime(2020, 6, 15, 14, 49, 17, 370000, tzinfo=UTC)
IVORN = "ivo://nasa.gsfc.gcn/AMON#ICECUBE_GOLD_Event2020-06-15T14:49:17.37_24_134191_017593623_"

# What the importers of 0008 stored for IceCube-200615A from the bundled sample (in the order
# `nufair run` imported the files: VOEvents, IceCat-1, AMON table), for a CR_VETO alert and
# for a third-party row: (event, number, kind, source, source_rev, source_key, ra, provenance).
OLD = [
    (1, 0, "initial", "gcn-voevent", 0, IVORN + "0", 143.4519, {"source": "gcn-voevent"}),
    (1, 1, "update", "gcn-voevent", 1, IVORN + "1", 142.9499, {"source": "gcn-voevent"}),
    (1, 2, "update", "icecat-1", None, "icecat-1:134191:17593623", 142.95,
     {"source": "icecat-1", "cr_veto": False, "event_mjd": 59015.61756223}),
    (1, 3, "initial", "amon-table", 0, "amon-table:gold:134191:17593623:0", 143.4519,
     {"source": "amon-table"}),
    (1, 4, "update", "amon-table", 1, "amon-table:gold:134191:17593623:1", 142.9499,
     {"source": "amon-table"}),
    (2, 0, "update", "icecat-1", None, "icecat-1:118973:25391094", 10.0,
     {"source": "icecat-1", "cr_veto": True}),
    (3, 0, "update", "icecat-1", None, "icecat-layout:139204:39158985", 25.3999,
     {"source": "icecat-1", "catalog": "third-party"}),
    # IceCube-241113A: the old importer stored the table's first row (Rev 1) first, and the
    # event took that row's time.
    (4, 0, "update", "amon-table", 1, "amon-table:bronze:140078:30891383:1", 196.1699,
     {"source": "amon-table"}),
    (4, 1, "initial", "amon-table", 0, "amon-table:bronze:140078:30891383:0", 196.1930,
     {"source": "amon-table"}),
]


def _amon_times(run: int, event: int) -> dict[int, datetime]:
    """Rev -> the time the bundled GCN AMON Gold/Bronze table gives for (run, event)."""
    table = next(p for p in sample_paths() if p.name == "amon_table_gold_bronze.txt")
    out = {}
    for line in table.read_text().splitlines():
        f = line.split()
        if len(f) > 4 and f[:2] == [str(run), str(event)]:
            day = datetime.strptime(f[3] + " " + f[4], "%y/%m/%d %H:%M:%S.%f")
            out[int(f[2])] = day.replace(tzinfo=UTC)
    return out


T241113A = _amon_times(140078, 30891383)


def _load_old(url: str) -> None:
    eng = create_engine(url)
    with eng.begin() as conn:
        for pk, (run, event, name, t) in enumerate(
                [(134191, 17593623, "IceCube-200615A", T0),
                 (118973, 25391094, "IceCube-110807A", T0), (139204, 39158985, None, T0),
                 (140078, 30891383, "IceCube-241113A", T241113A[1])], start=1):
            conn.execute(text(
                "INSERT INTO events (id, observatory, run_id, event_id, name, stream, "
                "event_time, event_mjd) VALUES (:id, 'IceCube', :r, :e, :n, 'gold', :t, 0)"),
                {"id": pk, "r": run, "e": event, "n": name, "t": t})
        for i, (ev, number, kind, source, rev, key, ra, prov) in enumerate(OLD, start=1):
            conn.execute(text(
                "INSERT INTO revisions (id, event_pk, number, kind, source, source_rev, "
                "source_key, stream, ra, dec, provenance, ivorn, region90_shape, r90_deg, "
                "ra_err_plus_90, ra_err_minus_90, dec_err_plus_90, dec_err_minus_90) VALUES "
                "(:id, :ev, :n, :k, :s, :rev, :key, 'gold', :ra, 3.7, CAST(:p AS jsonb), :iv, "
                ":shape, 1.0, 1.0, 1.0, 1.0, 1.0)"),
                {"id": i, "ev": ev, "n": number, "k": kind, "s": source, "rev": rev, "key": key,
                 "ra": ra, "p": json.dumps(prov),
                 "iv": key if key.startswith("ivo:") else None,
                 "shape": "box" if source == "icecat-1" else "circle"})
            conn.execute(text("INSERT INTO region_tiles (revision_pk, level, hpx) "
                              "VALUES (:id, 90, '[0,10)')"), {"id": i})
        conn.execute(text("UPDATE events SET current_revision_pk = "
                          "(SELECT max(id) FROM revisions WHERE event_pk = events.id)"))
    eng.dispose()


def test_old_database_migrates_to_one_history_per_alert(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0008")
    _load_old(empty_db_url)
    upgrade(empty_db_url)
    eng = create_engine(empty_db_url)
    try:
        with eng.connect() as conn:
            revs = conn.execute(text(
                "SELECT id, event_pk, number, kind, source, source_rev, source_key, "
                "provenance, ra_err_plus_90 FROM revisions ORDER BY event_pk, number")).all()
            evs = {e.id: e for e in conn.execute(text("SELECT * FROM events"))}
            view = conn.execute(text(
                "SELECT alert_id, status, revision FROM nufair.alerts ORDER BY alert_id")).all()
    finally:
        eng.dispose()
    # No row lost: each old revision survives, or is recorded in the one it was merged into.
    kept = {r.id for r in revs}
    merged = {m["id"]: m["source_key"] for r in revs for m in r.provenance.get("merged", [])}
    assert kept | set(merged) == set(range(1, len(OLD) + 1))
    assert merged == {4: OLD[3][5], 5: OLD[4][5]}
    assert len(evs) == 4
    h = [(r.number, r.kind, r.source, r.source_rev) for r in revs if r.event_pk == 1]
    assert h == [(0, "initial", "gcn-voevent", 0), (1, "update", "gcn-voevent", 1),
                 (2, "catalog", "icecat-1", None)]
    first = next(r for r in revs if r.event_pk == 1 and r.number == 0)
    assert first.source_key == "gcn:gold:134191:17593623:0"
    assert first.provenance["sources"] == ["gcn-amon", "gcn-voevent"]
    assert first.ra_err_plus_90 is None  # a circle is its radius, not a box
    catalog = next(r for r in revs if r.event_pk == 1 and r.number == 2)
    assert evs[1].current_revision_pk == catalog.id and catalog.ra_err_plus_90 == 1.0
    assert evs[1].time_source == "icecat-1:134191:17593623"
    assert [e.status for e in (evs[1], evs[2], evs[3])] == [
        "live", "likely_background", "live"]
    third = next(r for r in revs if r.event_pk == 3)
    assert (third.source, third.source_key, third.kind) == (
        "third-party", "third-party:139204:39158985", "catalog")
    assert [(v.alert_id, v.status) for v in view] == [
        (1, "live"), (2, "likely_background"), (3, "live"), (4, "live")]


def test_migrated_notices_take_their_own_event_time(empty_db_url: str) -> None:
    """IceCube-241113A stored the old way with the Rev 1 row's time migrates to Rev 0's
    00:22:20.68 (as a fresh import gives), the Rev 1 row's time recorded as a conflict."""
    assert T241113A[0].isoformat() == "2024-11-13T00:22:20.680000+00:00"
    upgrade(empty_db_url, "0008")
    _load_old(empty_db_url)
    upgrade(empty_db_url)
    eng = create_engine(empty_db_url)
    try:
        with eng.connect() as conn:
            ev = conn.execute(text("SELECT * FROM events WHERE id = 4")).one()
            revs = conn.execute(text(
                "SELECT number, source_rev, event_time, time_precision_s, provenance "
                "FROM revisions WHERE event_pk = 4 ORDER BY number")).all()
    finally:
        eng.dispose()
    assert ev.event_time == T241113A[0]
    assert ev.time_precision_s == 0.01
    assert ev.time_source == "gcn:bronze:140078:30891383:0"
    assert [(c["field"], c["other"], c["other_value"]) for c in ev.conflicts] == [
        ("event_time", "gcn:bronze:140078:30891383:1", T241113A[1].isoformat())]
    # Numbered by Rev, each with its own time, also in its source's provenance values.
    assert [(r.number, r.source_rev, r.event_time) for r in revs] == [
        (0, 0, T241113A[0]), (1, 1, T241113A[1])]
    for r in revs:
        assert r.time_precision_s == 0.01
        assert r.provenance["source"] == "gcn-amon"
