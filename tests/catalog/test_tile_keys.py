"""region_tiles → revisions stays a key after migration 0020 (statement-level triggers).

Each case is checked against what PostgreSQL's own foreign key does: a scratch pair of
tables with a declared key, given the same statements, must refuse or accept exactly the
same ones with the same SQLSTATE (23503).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from catalog.storage.events import CatalogStorage
from nufair.migrate import alembic_config, upgrade
from tests.catalog.records_factory import record

FK = "fk_region_tiles_revision_pk_revisions"
_TILE = "INSERT INTO {t} (revision_pk, level, hpx) VALUES (:r, 90, int8range(0, 10))"


def _reference(conn: Connection) -> None:
    """Temporary tables with a declared key, the behaviour the triggers must match."""
    conn.execute(text("CREATE TEMP TABLE ref_revisions (id bigint PRIMARY KEY)"))
    conn.execute(
        text(
            "CREATE TEMP TABLE ref_tiles (revision_pk bigint NOT NULL "
            "REFERENCES ref_revisions (id), level smallint, hpx int8range)"
        )
    )
    conn.execute(text("INSERT INTO ref_revisions SELECT id FROM revisions"))


def _sqlstate(conn: Connection, sql: str, args: dict[str, object]) -> str | None:
    """Run ``sql`` in a savepoint; the SQLSTATE it fails with, None when it succeeds."""
    try:
        with conn.begin_nested():
            conn.execute(text(sql), args)
    except DBAPIError as exc:
        assert isinstance(exc.orig, psycopg.Error)
        return exc.orig.sqlstate
    return None


@pytest.fixture
def stored(storage: CatalogStorage, engine: Engine) -> list[int]:
    """Two stored revisions with tiles; their ids."""
    storage.import_records(
        [record(rev=0, ra=10.0, dec=5.0, r90=1.0), record(rev=1, ra=10.5, dec=5.5, r90=0.8)]
    )
    with engine.connect() as conn:
        ids = list(
            conn.execute(text("SELECT DISTINCT revision_pk FROM region_tiles ORDER BY 1")).scalars()
        )
    assert len(ids) == 2
    return ids


Case = Callable[[list[int], int], tuple[str, dict[str, object]]]

CASES: dict[str, Case] = {
    "tile of a missing revision": lambda ids, gone: (_TILE, {"r": gone}),
    "tile of a stored revision": lambda ids, gone: (_TILE, {"r": ids[0]}),
    "tiles, one of a missing revision": lambda ids, gone: (
        "INSERT INTO {t} (revision_pk, level, hpx) SELECT unnest(CAST(:rs AS bigint[])), 90, "
        "int8range(0, 10)",
        {"rs": [ids[0], gone, ids[1]]},
    ),
    "tile moved to a missing revision": lambda ids, gone: (
        "UPDATE {t} SET revision_pk = :r WHERE revision_pk = :old",
        {"r": gone, "old": ids[0]},
    ),
    "delete a tiled revision": lambda ids, gone: ("DELETE FROM {r} WHERE id = :r", {"r": ids[0]}),
    "delete a tiled revision with its tiles": lambda ids, gone: (
        "WITH t AS (DELETE FROM {t} WHERE revision_pk = :r) DELETE FROM {r} WHERE id = :r",
        {"r": ids[0]},
    ),
    "change a tiled revision's id": lambda ids, gone: (
        "UPDATE {r} SET id = :new WHERE id = :r",
        {"r": ids[1], "new": gone},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refuses_and_accepts_what_a_declared_key_does(
    stored: list[int], engine: Engine, case: str
) -> None:
    """Each statement fails (or not) as it does against a declared foreign key."""
    with engine.begin() as conn:
        gone = int(conn.execute(text("SELECT max(id) + 1000 FROM revisions")).scalar_one())
        sql, args = CASES[case](stored, gone)
        _reference(conn)
        conn.execute(text("INSERT INTO ref_tiles SELECT revision_pk, level, hpx FROM region_tiles"))
        want = _sqlstate(conn, sql.format(t="ref_tiles", r="ref_revisions"), args)
        got = _sqlstate(conn, sql.format(t="region_tiles", r="revisions"), args)
        conn.rollback()
    assert got == want
    assert want in (None, "23503")


def test_refusal_names_the_key_and_the_missing_revision(stored: list[int], engine: Engine) -> None:
    """The error carries the old constraint's name and the missing id, as the key's did."""
    with engine.begin() as conn:
        gone = int(conn.execute(text("SELECT max(id) + 1000 FROM revisions")).scalar_one())
        with pytest.raises(DBAPIError) as info:
            conn.execute(text(_TILE.format(t="region_tiles")), {"r": gone})
    orig = info.value.orig
    assert isinstance(orig, psycopg.errors.ForeignKeyViolation)
    assert orig.diag.constraint_name == FK
    assert f"({gone})" in (orig.diag.message_detail or "")


def test_truncate_of_tiled_revisions_is_refused(stored: list[int], engine: Engine) -> None:
    """``TRUNCATE revisions`` fails while tiles exist and works once they are gone."""
    with engine.connect() as conn:
        with pytest.raises(DBAPIError), conn.begin():
            conn.execute(text("TRUNCATE revisions CASCADE"))
        with conn.begin():
            conn.execute(text("TRUNCATE region_tiles"))
            conn.execute(text("TRUNCATE revisions CASCADE"))
            assert conn.execute(text("SELECT count(*) FROM revisions")).scalar_one() == 0


def test_the_import_still_stores_tiles_for_every_revision(
    stored: list[int], engine: Engine
) -> None:
    """Every tile names a stored revision (the triggers let the import's COPY through)."""
    with engine.connect() as conn:
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM region_tiles t WHERE NOT EXISTS "
                "(SELECT 1 FROM revisions r WHERE r.id = t.revision_pk)"
            )
        ).scalar_one()
    assert orphans == 0


def test_downgrade_restores_the_declared_key(empty_db_url: str) -> None:
    """0020 down puts the declared key back; up again leaves no drift."""
    upgrade(empty_db_url)
    cfg = alembic_config(empty_db_url)
    command.downgrade(cfg, "0019")
    eng = create_engine(empty_db_url)
    try:
        keys = {k["name"] for k in inspect(eng).get_foreign_keys("region_tiles")}
        assert keys == {FK}
        command.upgrade(cfg, "head")
        assert inspect(eng).get_foreign_keys("region_tiles") == []
        command.check(cfg)
    finally:
        eng.dispose()
