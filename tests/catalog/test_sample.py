"""The bundled sample, imported through the same code path as ``nufair import``."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from catalog.importers import iter_paths, sample_paths
from catalog.schema.events import events, revisions
from catalog.service import import_files
from catalog.storage.events import CatalogStorage

SAMPLE = {p.name: p for p in sample_paths()}


@pytest.fixture
def loaded(storage: CatalogStorage) -> CatalogStorage:
    report = import_files(storage, list(iter_paths(sample_paths())))
    assert report.refused == []
    return storage


def _icecat_rows() -> list[dict[str, str]]:
    with SAMPLE["IceCube_Gold_Bronze_Tracks.csv"].open(newline="") as f:
        return list(csv.DictReader(f))


def _amon_run_events() -> set[tuple[int, int]]:
    """(run, event) of every Gold/Bronze AMON row, read with a plain regex (independent)."""
    out = set()
    for line in SAMPLE["amon_table_gold_bronze.txt"].read_text().splitlines():
        m = re.match(r"^\s*(\d+)\s+(\d+)\s+\d\s+\d\d/\d\d/\d\d", line)
        if m:
            out.add((int(m.group(1)), int(m.group(2))))
    return out


def test_every_icecat_event_is_present_by_name(loaded: CatalogStorage, engine: Engine) -> None:
    rows = _icecat_rows()
    assert len(rows) == 348
    with engine.connect() as conn:
        names = set(conn.execute(select(events.c.name)).scalars())
    assert {"IceCube-" + r["NAME"][2:] for r in rows} <= names


def test_200615A_revisions_are_exactly_the_voevents(loaded: CatalogStorage) -> None:
    ev = loaded.get_event("IceCube-200615A")
    voe = [(r.source_rev, r.ra, r.dec, r.error90.radius_deg) for r in ev.revisions
           if r.source == "gcn-voevent"]
    assert voe == [(0, 143.4519, 3.7891, 0.9201), (1, 142.9499, 3.66, 1.2199)]


def test_events_in_icecat_and_amon_are_single_events(loaded: CatalogStorage,
                                                     engine: Engine) -> None:
    both = {(int(r["RUNID"]), int(r["EVENTID"])) for r in _icecat_rows()} & _amon_run_events()
    assert len(both) > 50
    with engine.connect() as conn:
        rows = conn.execute(
            select(events.c.run_id, events.c.event_id,
                   func.array_agg(func.distinct(revisions.c.source)))
            .join(revisions, revisions.c.event_pk == events.c.id)
            .group_by(events.c.id)).all()
        n_identities = conn.execute(
            select(func.count()).select_from(
                select(events.c.run_id, events.c.event_id).distinct().subquery())
        ).scalar_one()
    sources = {(r[0], r[1]): set(r[2]) for r in rows}
    for key in both:
        # The revision of a notice carried by a VOEvent and an AMON row is labelled with
        # the source stored first; both are in its provenance (tests/catalog/test_histories).
        assert "icecat-1" in sources[key] and {"gcn-amon", "gcn-voevent"} & sources[key]
    assert n_identities == len(rows)  # no (run, event) stored twice


def test_reimporting_the_sample_changes_nothing(loaded: CatalogStorage, engine: Engine) -> None:
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(revisions)).scalar_one()
    report = import_files(loaded, list(iter_paths(sample_paths())))
    assert report.revisions_created == 0 and report.events_created == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(revisions)).scalar_one() == before


def test_files_are_all_or_nothing_and_one_bad_file_does_not_block_others(
        storage: CatalogStorage, tmp_path: Path) -> None:
    good = tmp_path / "good.xml"
    good.write_bytes(SAMPLE["IceCube_134191_017593623_0.xml"].read_bytes())
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<voe:VOEvent><unclosed>")
    report = import_files(storage, [broken, good])
    assert report.files_ok == 1 and [p.name for p, _, _ in report.refused] == ["broken.xml"]
    assert storage.get_event("134191_17593623").revision_count == 1
