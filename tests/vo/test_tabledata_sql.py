"""TABLEDATA written by PostgreSQL (issue 12): the same document as the Python writers
write, values with every special case, and MOC columns (assembled in Python, once each)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import psycopg
import pytest
from astropy.io.votable import parse_single_table
from mocpy import MOC
from sqlalchemy import text
from sqlalchemy.engine import Engine

from catalog.notices.parsed import NoticeRecord
from tests.vo.tabledata_pair import both_ways
from vo import resultstream
from vo.config import VoConfig
from vo.formats import sqlformat
from vo.formats.fields import FieldSpec
from vo.service import TapService
from vo.storage import VoStorage

QUERY = ("SELECT alert_id, name, stream, event_time, revision, ra, dec, r90, energy, "
         "signalness, retracted, moc90, status, moc50 FROM nufair.alerts ORDER BY ra")

#: One row of every special case, a row of NULLs, and ordinary values.
VALUES = """SELECT * FROM (VALUES
  (CAST('a & b <c> ' || chr(1) || ' ' || chr(65535) AS text), CAST(1.0 AS float8),
   CAST(0.1 AS real), CAST(-0.0 AS float8), CAST(7 AS bigint), CAST(-3 AS smallint),
   true, CAST('2020-06-15 12:34:56.789876+02' AS timestamptz), CAST(2.5 AS numeric)),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  ('plain', 'NaN', 'Infinity', '-Infinity', 9223372036854775807, 32767, false,
   '0099-01-01 00:00:00+00', 12345678.9),
  ('é', 1e22, 3.4e38, 1e-05, 0, 0, true, '2024-02-29 23:59:59.999+00', 100),
  ('x', 123456.75, 1.5, 2.5e-7, 1, 1, false, '2000-01-01 00:00:00+00', 1e-10)
) AS v(t, d, f, d2, l, s, b, ts, n)"""

SPECS = [FieldSpec("t", "char", "*"), FieldSpec("d", "double"), FieldSpec("f", "float"),
         FieldSpec("d2", "double"), FieldSpec("l", "long"), FieldSpec("s", "short"),
         FieldSpec("b", "boolean"), FieldSpec("ts", "char", "*", "timestamp"),
         FieldSpec("n", "double")]


def _rows(conn: psycopg.Connection[Any], sql: str) -> tuple[list[Any], list[int]]:
    conn.execute("SET TimeZone = 'UTC'")
    cur = conn.execute(sql)
    return cur.fetchall(), [d.type_code for d in cur.description or []]


def test_special_values_are_written_as_the_python_writer_writes_them(engine: Engine) -> None:
    """Escaped text, characters XML cannot carry, NULLs (the integers' null values), NaN and
    the infinities, integral doubles, float4, timestamps: byte for byte the Python writer's
    TABLEDATA."""
    got, by_python = both_ways(engine, VALUES, SPECS)
    assert got == by_python
    assert "a &amp; b &lt;c&gt; ? ?" in got and "<TD>-9223372036854775808</TD>" in got


def test_columns_not_encoded_in_sql_fall_back() -> None:
    """Integer arrays and bpchar are left to the Python writers."""
    assert sqlformat.tabledata_rows_query("SELECT 1", [FieldSpec("p", "int", "2")],
                                          [1007]) is None
    assert sqlformat.tabledata_rows_query("SELECT 1", [FieldSpec("c", "char", "*")],
                                          [1042]) is None


def _answer(service: TapService, maxrec: int) -> tuple[bytes, str | None]:
    stream = service.open({"LANG": "ADQL", "QUERY": QUERY, "RESPONSEFORMAT": "votable/td",
                           "MAXREC": str(maxrec)}, {})
    try:
        body = b"".join(stream.chunks())
        return body, stream.result.encoded
    finally:
        stream.close()


def test_tap_answer_with_mocs_equals_the_python_writers(
        engine: Engine, alerts: list[NoticeRecord], monkeypatch: pytest.MonkeyPatch) -> None:
    """A TABLEDATA answer with MOC columns: PostgreSQL and the Python writers write the
    same bytes (MAXREC cut included), and each MOC is the one its tiles make."""
    service = TapService(VoStorage(engine), VoConfig())
    monkeypatch.setattr(resultstream, "SMALL_ROWS", 10**6)
    by_python, how = _answer(service, len(alerts) - 1)
    assert how is None
    monkeypatch.setattr(resultstream, "SMALL_ROWS", 0)
    by_sql, how = _answer(service, len(alerts) - 1)
    assert how == "tabledata"
    assert by_sql == by_python
    table = parse_single_table(io.BytesIO(by_sql), verify="exception").array
    with engine.connect() as conn:
        tiles: dict[int, list[list[int]]] = dict(conn.execute(text(
            "SELECT a.alert_id, array_agg(ARRAY[lower(m.hpx), upper(m.hpx)]) FROM "
            "nufair.alerts a JOIN public.region_tiles m ON m.revision_pk = a.revision_id "
            "AND m.level = 90 GROUP BY a.alert_id")).all())
    checked = 0
    for row in table:
        ranges = tiles.get(int(row["alert_id"]))
        if ranges is None:
            continue
        want = MOC.from_depth29_ranges(29, np.array(sorted(ranges), dtype=np.uint64))
        got = MOC.from_string(str(row["moc90"]), format="ascii")
        assert np.array_equal(got.to_depth29_ranges, want.to_depth29_ranges)
        checked += 1
    assert checked > 0
