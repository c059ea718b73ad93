"""Where the candidates are published: REST, ADQL (TAP), the landing page partial, the
circular draft, the ``refresh`` backfill; and a second catalogue as a registry entry only."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from catalog.counterparts.landing import landing_context
from catalog.counterparts.loader import install
from catalog.counterparts.registry import REGISTRY_FILE, catalogues, parse_registry
from catalog.fair.http import TEMPLATES
from catalog.importers import iter_paths, sample_paths
from catalog.notices import circular
from catalog.notices.model import NoticeInput
from catalog.schema.counterparts import counterparts
from catalog.schema.events import events
from catalog.service import import_files
from catalog.storage.counterparts import CounterpartStore
from catalog.storage.events import CatalogStorage
from nufair.commands.counterparts import refresh_all

TXS = "4FGL J0509.4+0542"
EVENT = "IceCube-170922A"


@pytest.fixture
def icecat(storage: CatalogStorage, engine: Engine) -> Engine:
    """The IceCat-1 sample imported and its candidates computed."""
    report = import_files(storage, list(iter_paths(
        [p for p in sample_paths() if p.name == "IceCube_Gold_Bronze_Tracks.csv"])))
    assert report.refused == []
    assert "revision(s) recomputed" in refresh_all(engine)
    return engine


def _event_pk(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(events.c.id).where(events.c.name == name)).scalar_one())


def test_rest_lists_txs_in_reading_order(icecat: Engine, client: TestClient) -> None:
    r = client.get(f"/api/v1/events/{EVENT}/counterparts")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["event"] == EVENT
    items = body["items"]
    txs = [c for c in items if c["source_name"] == TXS]
    assert 90 in {c["level"] for c in txs}
    assert txs[0]["association"] == "TXS 0506+056" and txs[0]["blazar"] is True
    assert txs[0]["url"].endswith("Ident=4FGL+J0509.4%2B0542")
    keys = [(-c["level"], not c["blazar"], c["match"] != "position", c["separation_deg"])
            for c in items]
    assert keys == sorted(keys)
    only50 = client.get(f"/api/v1/events/{EVENT}/counterparts", params={"level": 50}).json()
    assert {c["level"] for c in only50["items"]} <= {50}
    assert client.get("/api/v1/events/IceCube-000101Z/counterparts").status_code == 404
    assert client.get(f"/api/v1/events/{EVENT}/counterparts",
                      params={"revision": 7}).status_code == 404
    bad = client.get(f"/api/v1/events/{EVENT}/counterparts", params={"level": 70})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["parameter"] == "level"


def _tap(client: TestClient, query: str) -> list[dict[str, str]]:
    r = client.post("/tap/sync", data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query,
                                        "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text, newline="")))


def test_adql_joins_alerts_counterparts_and_fgl4(icecat: Engine, client: TestClient) -> None:
    rows = _tap(client, "SELECT a.name, c.source_name, c.separation, f.assoc1, f.class1 "
                        "FROM nufair.alerts AS a JOIN nufair.counterparts AS c "
                        "ON c.revision_id = a.revision_id JOIN fermi.fgl4 AS f "
                        "ON f.source_name = c.source_name "
                        f"WHERE a.name = '{EVENT}' AND c.region_level = 90")
    assert {(r["source_name"], r["assoc1"], r["class1"]) for r in rows} >= {
        (TXS, "TXS 0506+056", "bll")}
    near = _tap(client, "SELECT source_name FROM fermi.fgl4 WHERE 1 = CONTAINS("
                        "POINT('ICRS', ra, dec), CIRCLE('ICRS', 77.3593, 5.7014, 0.05))")
    assert [r["source_name"] for r in near] == [TXS]
    assert _tap(client, "SELECT COUNT(*) AS n FROM fermi.fgl4") == [{"n": "7195"}]


def test_tap_schema_has_units_and_ucds(client: TestClient) -> None:
    rows = _tap(client, "SELECT column_name, unit, ucd FROM tap_schema.columns "
                        "WHERE table_name = 'fermi.fgl4'")
    got = {r["column_name"]: (r["unit"], r["ucd"]) for r in rows}
    assert got["ra"] == ("deg", "pos.eq.ra;meta.main")
    assert got["conf_95_semimajor"][0] == "deg"
    assert got["flux1000"] == ("cm**-2.s**-1", "phot.flux;em.gamma")
    tables = {r["table_name"] for r in _tap(client, "SELECT table_name FROM tap_schema.tables")}
    assert {"fermi.fgl4", "nufair.counterparts"} <= tables


def test_landing_partial_lists_blazars_first(icecat: Engine) -> None:
    view = landing_context(icecat, _event_pk(icecat, EVENT), 0)
    html = TEMPLATES.get_template("counterparts.html").render(v={"counterparts": view})
    names = re.findall(r">(4FGL J\d{4}\.\d[+-]\d{4})<", html)
    assert TXS in names
    assert 'href="https://simbad.cds.unistra.fr/simbad/sim-id?Ident=4FGL+J0509.4%2B0542"' \
        in html
    blazar = [r.item.blazar for r in view.rows]
    assert blazar == sorted(blazar, reverse=True)  # every blazar class before any other
    assert names == [r.item.source_name for r in view.rows]
    empty = TEMPLATES.get_template("counterparts.html").render(
        v={"counterparts": landing_context(icecat, _event_pk(icecat, EVENT), 99)})
    assert "No catalogued source" in empty


def _notice() -> NoticeInput:
    return NoticeInput(
        observatory="IceCube", run_id=130033, event_id=50579430, name=EVENT, stream="gold",
        event_time=datetime(2017, 9, 22, 20, 54, 30, tzinfo=UTC), revision=0,
        kind="initial", issued_at=datetime(2017, 9, 22, 20, 55, tzinfo=UTC), ra=77.43,
        dec=5.79, r50_deg=0.5, r90_deg=1.0, energy_tev=290.0, signalness=0.56,
        far_per_year=0.5, ivorn="ivo://nufair.example/IceCube#x")


def test_circular_names_the_sources_of_the_90_region(icecat: Engine) -> None:
    with icecat.connect() as conn:
        found = CounterpartStore(conn).for_event(EVENT).items
    text = circular.build(_notice(), found)
    flat = " ".join(text.split())
    assert "Fermi-LAT 4FGL sources in the 90 % region: 4FGL J0509.4+0542 (bll, " \
           "TXS 0506+056, 0.11 deg)" in flat
    ours = text[text.index("Fermi-LAT 4FGL sources"):].splitlines()
    assert len(ours) > 1 and all(len(line) < 80 for line in ours)
    text.encode("ascii")
    assert "No Fermi-LAT 4FGL source lies" in circular.build(_notice(), [])
    assert "4FGL" not in circular.build(_notice())


def test_refresh_recomputes_every_revision(icecat: Engine) -> None:
    with icecat.begin() as conn:
        before = conn.execute(select(func.count()).select_from(counterparts)).scalar_one()
        conn.execute(delete(counterparts))
    assert before > 100
    report = refresh_all(icecat)
    with icecat.connect() as conn:
        after = conn.execute(select(func.count()).select_from(counterparts)).scalar_one()
    assert after == before and f"{after} candidate row(s)" in report


def test_a_second_catalogue_is_a_registry_entry(icecat: Engine, tmp_path: Path) -> None:
    """A catalogue without ellipses, from a file of its own: JSON only, no code."""
    csv_path = tmp_path / "radio.csv"
    csv_path.write_text("NAME,RA,DEC,KIND\nTXS 0506+056,77.35818,5.69315,blazar\n"
                        "FAR AWAY,200.0,-40.0,\n")
    entry = {"key": "radio-test", "label": "Radio test", "description": "A test list.",
             "schema": "radiotest", "schema_description": "Test.", "table": "sources",
             "file": str(csv_path), "name": "name", "ra": "ra", "dec": "dec",
             "class": "kind", "priority_classes": ["blazar"],
             "columns": [
                 {"name": "name", "csv": "NAME", "type": "text", "description": "Name."},
                 {"name": "ra", "csv": "RA", "type": "double", "unit": "deg",
                  "description": "RA."},
                 {"name": "dec", "csv": "DEC", "type": "double", "unit": "deg",
                  "description": "Dec."},
                 {"name": "kind", "csv": "KIND", "type": "text", "description": "Class."}]}
    (second,) = parse_registry(json.dumps({"catalogues": [entry]}))
    cats = (*catalogues(), second)
    assert REGISTRY_FILE.endswith(".json") and not second.has_ellipse
    with icecat.begin() as conn:
        assert install(conn, second) == 2
        store = CounterpartStore(conn, cats)
        store.compute_for(store.revisions_with_regions())
    with icecat.connect() as conn:
        found = CounterpartStore(conn, cats).for_event(EVENT, level=90).items
    radio = [c for c in found if c.catalogue == "radio-test"]
    assert [(c.source_name, c.match, c.blazar) for c in radio] == [
        ("TXS 0506+056", "position", True)]
    assert any(c.source_name == TXS for c in found)
