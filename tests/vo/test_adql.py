"""ADQL grammar, checks and the `nufair adql check` command."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from nufair.cli import main
from vo.adql import syntax_check
from vo.adql.translate import translate
from vo.errors import AdqlError

VALID = [
    "SELECT TOP 10 name, ra, dec FROM nufair.alerts ORDER BY event_time DESC OFFSET 5",
    "SELECT a.* FROM nufair.alerts AS a WHERE a.ra BETWEEN 10 AND 20 AND a.name ILIKE 'ice%'",
    "WITH g AS (SELECT name, ra FROM nufair.alerts WHERE stream = 'gold') SELECT * FROM g",
    "SELECT name FROM nufair.alerts UNION ALL SELECT name FROM nufair.revisions",
    "SELECT name FROM nufair.alerts EXCEPT SELECT name FROM nufair.revisions WHERE revision > 0",
    "SELECT COUNT(*) AS n, MAX(energy), stream FROM nufair.alerts GROUP BY stream "
    "HAVING COUNT(*) > 1",
    "SELECT CAST(revision AS DOUBLE PRECISION), COALESCE(energy, 0), LOWER(name), "
    "IN_UNIT(r90, 'arcmin') FROM nufair.alerts",
    "SELECT DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 77.36, 5.69)) AS d, "
    "AREA(CIRCLE(ra, dec, r90)), COORD1(CENTROID(CIRCLE(ra, dec, 1))) FROM nufair.alerts",
    "SELECT ivo_healpix_index(8, POINT(ra, dec)) FROM nufair.alerts",
    "SELECT name FROM nufair.alerts WHERE 1 = INTERSECTS(CIRCLE(77, 5, 2), moc90)",
    "SELECT name FROM nufair.alerts WHERE 1 = CONTAINS(POINT(ra, dec), "
    "POLYGON(70, 0, 80, 0, 80, 10, 70, 10))",
    "SELECT r.name FROM nufair.revisions AS r JOIN nufair.alerts AS a "
    "ON r.alert_id = a.alert_id WHERE EXISTS (SELECT 1 FROM nufair.alerts x "
    "WHERE x.alert_id = r.alert_id) AND r.revision IN (0, 1)",
    "SELECT \"size\", column_name FROM TAP_SCHEMA.columns -- a comment",
    "SELECT 0x1F, 1.5e3, 'it''s' FROM nufair.alerts",
]


@pytest.mark.parametrize("query", VALID)
def test_valid_queries_translate(query: str) -> None:
    """Valid ADQL translates to SQL holding no user value (all bound)."""
    syntax_check(query)
    tr = translate(query, maxrec=10)
    assert tr.sql.startswith(("SELECT", "WITH", "("))
    # No user value reaches the SQL text: every literal is a bound parameter.
    for value in tr.params.values():
        if isinstance(value, str):
            assert value not in tr.sql


@pytest.mark.parametrize(("query", "line", "column", "reason"), [
    ("SELECT ra FROM nufair.alerts LIMIT 3", 1, 30, "LIMIT is not ADQL"),
    ("SELECT ra::int FROM nufair.alerts", 1, 10, "unexpected character ':'"),
    ("SELECT ra,\n  FROM nufair.alerts", 2, 3, "unexpected 'FROM'"),
    ("SELECT ra FROM nufair.alerts WHERE", 1, 35, "unexpected end"),
    ("DELETE FROM nufair.alerts", 1, 1, "reserved word"),
    ("SELECT ra FROM nufair.alerts; DROP TABLE events", 1, 29, "unexpected character ';'"),
])
def test_syntax_errors_have_line_and_column(query: str, line: int, column: int,
                                            reason: str) -> None:
    """A syntax error says where it is and why."""
    with pytest.raises(AdqlError) as info:
        syntax_check(query)
    assert (info.value.line, info.value.column) == (line, column)
    assert reason in info.value.reason


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT nope FROM nufair.alerts", "unknown column 'nope' (line 1, column 8)"),
    ("SELECT ra FROM nufair.events", "unknown table 'nufair.events'"),
    ("SELECT ra FROM region_tiles", "unknown table 'region_tiles'"),
    ("SELECT hpx29 FROM nufair.alerts", "unknown column 'hpx29'"),
    ("SELECT pg_sleep(10) FROM nufair.alerts", "unknown function pg_sleep()"),
    ("SELECT ra FROM nufair.alerts a JOIN nufair.revisions r USING (alert_id) WHERE ra > 1",
     "ambiguous"),
    ("SELECT x.ra FROM nufair.alerts", "unknown table or alias 'x'"),
    ("SELECT ra FROM nufair.alerts WHERE 1 = CONTAINS(POINT(ra, dec), POLYGON(0, 0, 10, 10, "
     "0, 10, 10, 0))", "convex"),
    ("SELECT IN_UNIT(name, 'm') FROM nufair.alerts", "unit is known"),
])
def test_semantic_errors(query: str, message: str) -> None:
    """Unknown names and unsupported constructs are ADQL errors that say so."""
    with pytest.raises(AdqlError, match=None) as info:
        translate(query)
    assert message in info.value.message


def test_cli_check_valid_and_invalid() -> None:
    """`nufair adql check` exits 0 on valid ADQL, 2 with the place of an error."""
    runner = CliRunner()
    ok = runner.invoke(main, ["adql", "check", "SELECT TOP 1 a FROM nowhere.table_we_never_check"])
    assert ok.exit_code == 3, ok.output  # valid ADQL; the table is not published here
    bad = runner.invoke(main, ["adql", "check", "SELECT a\nFROM t LIMIT 1"])
    assert bad.exit_code == 2
    assert "line 2, column 8" in bad.output
