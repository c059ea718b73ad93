"""``nufair import`` ends with ``ANALYZE`` of the tables it filled (issue 14): a catalogue
read right after a bulk import no longer plans for empty tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import Engine

from catalog.importers import iter_paths, sample_paths
from catalog.storage.events import IMPORT_TABLES
from nufair.cli import main

_ANALYZED = text("SELECT relname, last_analyze "
                 "FROM pg_stat_user_tables WHERE schemaname = 'public' "
                 "AND relname = ANY(:tables)")


def _stats(engine: Engine) -> dict[str, tuple[object]]:
    with engine.connect() as conn:
        rows = conn.execute(_ANALYZED, {"tables": list(IMPORT_TABLES)}).all()
    return {r.relname: (r.last_analyze,) for r in rows}


def test_import_analyses_what_it_filled(db_url: str, engine: Engine, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert {name for name, (when,) in _stats(engine).items() if when} == set()
    files = [p for p in iter_paths(sample_paths()) if p.suffix == ".xml"]
    monkeypatch.setenv("NUFAIR_DATABASE_URL", db_url)
    monkeypatch.setenv("NUFAIR_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(main, ["import", "--no-progress", *map(str, files)])
    assert result.exit_code == 0, result.output
    stats = _stats(engine)
    assert set(stats) == set(IMPORT_TABLES)
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in IMPORT_TABLES}
        reltuples: dict[str, float] = dict(conn.execute(text(
            "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(:t) "
            "AND relnamespace = 'public'::regnamespace"), {"t": list(IMPORT_TABLES)}).all())
    filled = {t for t, n in counts.items() if n}
    assert {"events", "revisions", "region_tiles"} <= filled
    # Each filled table was analysed by the command (``last_analyze``: a manual ANALYZE,
    # not autovacuum's), after its last row went in: the planner's row count is the table's
    # (a table never analysed has reltuples -1; these are small enough to be read whole).
    for table in filled:
        assert stats[table][0] is not None, table
        assert reltuples[table] == counts[table], table
