"""The per-cell listing of a catalogue's tiles that the counterpart search joins on.

The search finds the catalogue tiles overlapping a region's tiles by the HEALPix order-6
cells both touch; it finds every overlapping pair only if each tile is listed under every
cell it touches. Checked here against Python's own arithmetic, against a direct ``&&`` join
over the sample's regions, and through migration 0019 on a database that lacks the table.
"""

from __future__ import annotations

from collections import Counter

from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

from catalog.counterparts.loader import cells_table
from catalog.counterparts.registry import catalogues
from catalog.importers import iter_paths, sample_paths
from catalog.service import import_files
from catalog.storage.events import CatalogStorage
from nufair.migrate import alembic_config, upgrade

#: Order-29 indices per order-6 cell: 4 ** (29 - 6).
CELL_SIZE = 4 ** 23


def _expected_cells(conn: Connection, tiles: str) -> Counter[tuple[int, str, int, int]]:
    """(cell, source, lo, hi) for every tile and every order-6 cell its range touches."""
    out: Counter[tuple[int, str, int, int]] = Counter()
    for name, lo, hi in conn.execute(text(
            f"SELECT source_name, lower(hpx), upper(hpx) FROM {tiles}")):
        for cell in range(lo // CELL_SIZE, (hi - 1) // CELL_SIZE + 1):
            out[(cell, name, lo, hi)] += 1
    return out


def _stored_cells(conn: Connection, cells: str) -> Counter[tuple[int, str, int, int]]:
    return Counter(tuple(r) for r in conn.execute(text(
        f"SELECT cell, source_name, lower(hpx), upper(hpx) FROM {cells}")))


def test_every_tile_is_listed_under_each_cell_it_touches(engine: Engine) -> None:
    """The installed catalogue's cells table equals the listing computed here."""
    cat = catalogues()[0]
    with engine.connect() as conn:
        expected = _expected_cells(conn, f"{cat.schema}.{cat.tiles_table}")
        assert len(expected) > 7000
        assert any(n > 1 for n in Counter((c[1], c[2]) for c in expected).values()), \
            "no tile spans two cells: the test would not see a missing one"
        assert _stored_cells(conn, cells_table(cat)) == expected


def test_cell_join_finds_exactly_the_overlapping_tiles(storage: CatalogStorage,
                                                        engine: Engine) -> None:
    """Over every region of the sample, the cell join and a direct ``&&`` join give the
    same (revision, level, source) triples."""
    assert import_files(storage, list(iter_paths(sample_paths()))).refused == []
    cat = catalogues()[0]
    tiles = f"{cat.schema}.{cat.tiles_table}"
    with engine.connect() as conn:
        direct = set(conn.execute(text(
            f"SELECT DISTINCT t.revision_pk, t.level, ct.source_name"
            f" FROM region_tiles t JOIN {tiles} ct ON ct.hpx && t.hpx")))
        by_cell = set(conn.execute(text(
            f"SELECT DISTINCT t.revision_pk, t.level, ct.source_name FROM region_tiles t"
            f" CROSS JOIN LATERAL generate_series(lower(t.hpx) >> 46,"
            f" (upper(t.hpx) - 1) >> 46) rc(cell)"
            f" JOIN {cells_table(cat)} ct ON ct.cell = rc.cell AND ct.hpx && t.hpx")))
    assert len(direct) > 1000
    assert by_cell == direct


def test_migration_0019_builds_the_cells_of_an_older_database(empty_db_url: str) -> None:
    """A database at 0018 without the cells table gets it from 0019; downgrade drops it."""
    cat = catalogues()[0]
    cells = cells_table(cat)
    upgrade(empty_db_url, "0018")
    eng = create_engine(empty_db_url)
    try:
        with eng.begin() as conn:  # what 0018 left before the loader built cells
            conn.execute(text(f"DROP TABLE {cells}"))
        upgrade(empty_db_url)
        with eng.connect() as conn:
            expected = _expected_cells(conn, f"{cat.schema}.{cat.tiles_table}")
            assert _stored_cells(conn, cells) == expected
        command.downgrade(alembic_config(empty_db_url), "0018")
        with eng.connect() as conn:
            assert conn.execute(text("SELECT to_regclass(:t)"), {"t": cells}).scalar() is None
    finally:
        eng.dispose()
