"""The region polygons stored with each revision (migration 0018, issue 12).

``public.revisions.region50_polygon`` / ``region90_polygon`` are generated columns: the
migration draws them for the rows already there, PostgreSQL redraws them when a region
changes, and the views read them. Each is checked two ways: equal to what
``nufair.region_polygon`` draws from the row's region columns now, and enclosing the
published shape by the independent geometry of :mod:`tests.vo.test_obscore`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from catalog.importers import sample_paths
from catalog.importers.icecat import read_icecat_csv
from catalog.storage.events import CatalogStorage
from catalog.storage.revisions import RevisionStore
from nufair.migrate import alembic_config, upgrade
from tests.catalog.records_factory import record
from tests.vo.test_obscore import _check_box, _check_circle

#: What the views return of each current alert, the drawn polygons beside the stored ones.
_ROWS = """
SELECT a.revision_id, a.name, a.ra, a.dec, a.shape50, a.shape90, a.r50, a.r90,
       a.ra_err_plus_50, a.ra_err_minus_50, a.dec_err_plus_50, a.dec_err_minus_50,
       a.ra_err_plus_90, a.ra_err_minus_90, a.dec_err_plus_90, a.dec_err_minus_90,
       a.region50, a.region90,
       nufair.region_polygon(r.region50_shape, r.ra, r.dec, r.r50_deg, r.ra_err_plus_50,
           r.ra_err_minus_50, r.dec_err_plus_50, r.dec_err_minus_50) AS drawn50,
       nufair.region_polygon(r.region90_shape, r.ra, r.dec, r.r90_deg, r.ra_err_plus_90,
           r.ra_err_minus_90, r.dec_err_plus_90, r.dec_err_minus_90) AS drawn90
FROM nufair.alerts a JOIN public.revisions r ON r.id = a.revision_id ORDER BY a.revision_id
"""


def _records() -> list[Any]:
    """IceCat-1's boxes from the bundled sample, and circles (with a 50 % region) across
    RA 0, near a pole and plain."""
    path = next(p for p in sample_paths() if p.name == "IceCube_Gold_Bronze_Tracks.csv")
    icecat = [r for r in read_icecat_csv(path.read_text()).records if r.region(0.9)][:40]
    circles = [record(run=9000 + i, event=i, name=f"C-{i}", ra=ra, dec=dec, r90=r, r50=r / 3)
               for i, (ra, dec, r) in enumerate([(359.2, 12.0, 2.5), (40.0, 88.0, 3.0),
                                                 (120.0, -30.0, 0.8)])]
    return icecat + circles


def _rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(_ROWS)).mappings()]


def _check(rows: list[dict[str, Any]]) -> None:
    """Each view polygon is the one the function draws, and encloses the published shape."""
    checked = 0
    for row in rows:
        for level in (50, 90):
            poly = row[f"region{level}"]
            assert poly == row[f"drawn{level}"], (row["name"], level)
            if poly is None:  # no region at this level, or a band (no polygon)
                continue
            vertices = np.asarray(poly, dtype=float).reshape(-1, 2)
            if row[f"shape{level}"] == "circle":
                _check_circle(row, vertices, float(row[f"r{level}"]))
            else:
                box = tuple(float(row[f"{k}_{level}"]) for k in (
                    "ra_err_plus", "ra_err_minus", "dec_err_plus", "dec_err_minus"))
                _check_box(row, vertices, box)
            checked += 1
    assert checked >= len(rows)


def test_the_migration_draws_the_rows_already_there(empty_db_url: str) -> None:
    """A database at 0017 with alerts: after 0018 every stored polygon is drawn, the views
    give the same polygons as before, and 0017 again gives them back from the function."""
    upgrade(empty_db_url, "0017")
    engine = create_engine(empty_db_url)
    try:
        recs = _records()
        CatalogStorage(engine).import_records(recs)
        before = _rows(engine)
        assert len(before) == len(recs)
        _check(before)
        upgrade(empty_db_url, "0018")
        with engine.connect() as conn:
            filled = conn.execute(text(
                "SELECT count(*) FROM revisions WHERE region90_polygon IS NOT NULL")).scalar()
            viewdefs = conn.execute(text(
                "SELECT pg_get_viewdef('nufair.alerts') || pg_get_viewdef('nufair.revisions')"
            )).scalar()
        assert filled == len(recs)
        assert "region_polygon" not in str(viewdefs) and "region90_polygon" in str(viewdefs)
        after = _rows(engine)
        assert after == before
        _check(after)
        command.downgrade(alembic_config(empty_db_url), "0017")
        assert _rows(engine) == before
    finally:
        engine.dispose()


def test_a_changed_region_gets_its_new_polygon(engine: Engine,
                                               storage: CatalogStorage) -> None:
    """A circle whose radius a scan replaces, and a box whose half-widths are corrected in
    place, read their new polygons; the rows no one touched keep theirs."""
    storage.import_records([
        record(run=7000, event=1, name="C-A", ra=10.0, dec=20.0, r90=1.5, r50=0.5),
        record(run=7001, event=2, name="B-A", ra=200.0, dec=-40.0, r90=None,
               box90=(2.0, 1.0, 1.5, 0.5)),
        record(run=7002, event=3, name="C-B", ra=300.0, dec=5.0, r90=2.0)])
    first = {r["name"]: r for r in _rows(engine)}
    with engine.begin() as conn:
        RevisionStore(conn).replace_region_tiles(first["C-A"]["revision_id"], {
            90: (np.array([[0, 4]], dtype=np.int64), 12.0, 2.75)})
        conn.execute(text("UPDATE revisions SET ra_err_plus_90 = 4.0, dec_err_minus_90 = 3.0 "
                          "WHERE id = :pk"), {"pk": first["B-A"]["revision_id"]})
    now = {r["name"]: r for r in _rows(engine)}
    _check(list(now.values()))
    assert now["C-A"]["r90"] == 2.75 and now["C-A"]["region90"] != first["C-A"]["region90"]
    assert now["C-A"]["region50"] == first["C-A"]["region50"]
    assert now["B-A"]["ra_err_plus_90"] == 4.0
    assert now["B-A"]["region90"] != first["B-A"]["region90"]
    assert now["C-B"] == first["C-B"]
