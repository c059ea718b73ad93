"""Point-in-region reads indexes only: the tile probe and the exact shape test (issue 15).

Migration 0022 puts ``level`` and ``revision_pk`` in the SP-GiST tile index and the
columns of the exact region test in ``ix_revisions_region_shapes``, so that
``CONTAINS(POINT, moc90)`` (and ``region90``) need not read the wide ``region_tiles`` and
``revisions`` rows of candidates (at 100 k alerts those pages were most of its time).
Here: the plan of the translated query reads both relations by index-only scans without
heap fetches (with sequential and bitmap scans off, so that the few rows of a test
database do not make a scan the cheaper plan), and the rows are those of an independent
computation (:func:`tests.vo.truth.inside_regions`). The migration goes down and up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from catalog.importers import sample_paths
from catalog.importers.icecat import read_icecat_csv
from catalog.notices.parsed import NoticeRecord
from catalog.storage.events import CatalogStorage
from nufair.migrate import alembic_config, upgrade
from tests.catalog.records_factory import record
from tests.vo.truth import inside_regions
from vo.adql.translate import translate

RNG_SEED = 22

#: The revision columns ``ix_revisions_region_shapes`` carries (both levels).
SHAPE_COLUMNS = ["ra", "dec", *(c for lv in (50, 90) for c in (
    f"region{lv}_shape", f"r{lv}_deg", f"ra_err_plus_{lv}", f"ra_err_minus_{lv}",
    f"dec_err_plus_{lv}", f"dec_err_minus_{lv}"))]


@pytest.fixture
def sample(storage: CatalogStorage, engine: Engine) -> list[NoticeRecord]:
    """The IceCat-1 boxes of the bundled sample and a few circles, imported and vacuumed
    (the visibility map that index-only scans rely on, as autovacuum keeps it)."""
    path = next(p for p in sample_paths() if p.name == "IceCube_Gold_Bronze_Tracks.csv")
    boxes = [r for r in read_icecat_csv(path.read_text()).records if r.region(0.9)]
    circles = [record(run=9100 + i, event=i, name=f"C-{i}", ra=ra, dec=dec, r90=r90)
               for i, (ra, dec, r90) in enumerate([(359.5, 10.0, 3.0), (150.0, -40.0, 1.2),
                                                   (20.0, 85.0, 4.0)])]
    storage.import_records(boxes + circles)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE revisions, region_tiles, events"))
    return boxes + circles


def _scans(node: dict[str, Any]) -> list[tuple[str, str]]:
    """(node type, relation) of every scan of a JSON plan, with its heap fetches noted."""
    found = []
    if "Relation Name" in node:
        kind = str(node["Node Type"])
        if node.get("Heap Fetches"):
            kind += " with heap fetches"
        found.append((kind, str(node["Relation Name"])))
    for child in node.get("Plans", []):
        found += _scans(child)
    return found


@pytest.mark.parametrize("column", ["moc90", "region90"])
def test_point_in_region_plan_reads_indexes_only(engine: Engine, sample: list[NoticeRecord],
                                                 column: str) -> None:
    """Tiles and region shapes come from index-only scans; the rows are the exact ones."""
    rng = np.random.default_rng(RNG_SEED)
    # positions in and near the sample's regions: around their centres, within 5 degrees
    centres = [r for r in sample if r.ra is not None and r.dec is not None]
    picks = rng.choice(len(centres), size=25, replace=False)
    ra = np.array([np.mod(centres[i].ra + rng.uniform(-5, 5), 360.0) for i in picks])
    dec = np.array([np.clip(centres[i].dec + rng.uniform(-5, 5), -90, 90) for i in picks])
    truth = inside_regions(sample, ra, dec)
    names = np.array([r.name for r in sample])
    assert truth.any(axis=0).sum() >= 10  # most positions fall in some region
    with engine.connect() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        for j, (a, d) in enumerate(zip(ra.tolist(), dec.tolist(), strict=True)):
            tr = translate("SELECT name, ra, dec FROM nufair.alerts WHERE 1 = CONTAINS("
                           f"POINT('ICRS', {a!r}, {d!r}), {column})", maxrec=1000)
            plan = conn.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + tr.sql),
                                tr.params).scalar_one()[0]["Plan"]
            scans = set(_scans(plan))
            assert ("Index Only Scan", "region_tiles") in scans, scans
            assert ("Index Only Scan", "revisions") in scans, scans
            assert {rel for _, rel in scans} <= {"region_tiles", "revisions", "events"}
            assert all(kind == "Index Only Scan" for kind, _ in scans), scans
            got = {row[0] for row in conn.execute(text(tr.sql), tr.params)}
            assert got == set(names[truth[:, j]].tolist()), (a, d)


def _includes(eng: Engine, table: str) -> dict[str, list[str]]:
    """Index name → its INCLUDE columns, for the indexes of ``table``."""
    return {str(i["name"]): list(i["dialect_options"].get("postgresql_include") or [])
            for i in inspect(eng).get_indexes(table)}


def test_migration_adds_the_included_columns_and_goes_down(empty_db_url: str) -> None:
    """0022 builds both indexes with their INCLUDE columns; downgrading to 0021 restores
    the tile index on ``hpx`` alone and drops the shape index; upgrading again rebuilds."""
    upgrade(empty_db_url)
    eng = create_engine(empty_db_url)
    try:
        assert _includes(eng, "region_tiles")["ix_region_tiles_hpx"] == ["level",
                                                                          "revision_pk"]
        assert _includes(eng, "revisions")["ix_revisions_region_shapes"] == SHAPE_COLUMNS
        cfg = alembic_config(empty_db_url)
        command.downgrade(cfg, "0021")
        assert _includes(eng, "region_tiles")["ix_region_tiles_hpx"] == []
        assert "ix_revisions_region_shapes" not in _includes(eng, "revisions")
        command.upgrade(cfg, "head")
        assert _includes(eng, "region_tiles")["ix_region_tiles_hpx"] == ["level",
                                                                          "revision_pk"]
        assert "ix_revisions_region_shapes" in _includes(eng, "revisions")
    finally:
        eng.dispose()
