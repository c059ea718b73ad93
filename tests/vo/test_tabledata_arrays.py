"""Float arrays (the region polygons) in TABLEDATA written by PostgreSQL (issue 12): each
distinct array's text is written once in Python, byte for byte as the Python writers write
the floats psycopg reads."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from catalog.notices.parsed import NoticeRecord
from tests.vo.tabledata_pair import both_ways
from vo import resultstream
from vo.config import VoConfig
from vo.formats.fields import FieldSpec
from vo.service import TapService
from vo.storage import VoStorage

#: Every special element, NULL elements, an empty and a NULL array, a lower bound not 1.
VALUES = """SELECT * FROM (VALUES
  (CAST(ARRAY[1.0, -0.0, 'NaN', 'Infinity', '-Infinity', NULL, 1e22, 0.1, 1e15, 123456.75,
              5e-324, 2.5e-7] AS float8[]),
   CAST(ARRAY[0.1, 'NaN', '-Infinity', NULL, 3.4e38, 7] AS real[]), 'a',
   CAST(ARRAY[1.5, 2, 3] AS float8[])),
  (CAST('{}' AS float8[]), CAST('{}' AS real[]), 'b', NULL),
  (NULL, NULL, NULL, CAST('[0:2]={-1,0.25,90}' AS float8[])),
  (CAST(ARRAY[359.99999999999994, -89.5] AS float8[]), CAST(ARRAY[1e-05] AS real[]), 'c',
   CAST(ARRAY[1, 2, 3] AS float8[]))
) AS v(d, f, t, fixed)"""

SPECS = [FieldSpec("d", "double", "*", "polygon"), FieldSpec("f", "float", "*"),
         FieldSpec("t", "char", "*"), FieldSpec("fixed", "double", "3")]



def test_float_arrays_are_written_as_the_python_writer_writes_them(engine: Engine) -> None:
    """NaN, the infinities, NULL elements, integral values, float4, empty and NULL arrays
    (a fixed size one: NaN repeated), a lower bound: the Python writer's TABLEDATA."""
    got, by_python = both_ways(engine, VALUES, SPECS)
    assert got == by_python
    assert "<TD>1.0 0.0 NaN +Inf -Inf NaN 1e+22 0.1 1000000000000000.0 123456.75" in got
    assert "<TD></TD><TD></TD><TD>b</TD><TD>NaN NaN NaN</TD>" in got
    assert "<TD>-1.0 0.25 90.0</TD>" in got


def _answer(service: TapService, query: str) -> tuple[bytes, str | None]:
    stream = service.open({"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "votable/td",
                           "MAXREC": "40"}, {})
    try:
        return b"".join(stream.chunks()), stream.result.encoded
    finally:
        stream.close()


def test_a_cross_join_with_regions_is_written_by_postgresql(
        engine: Engine, alerts: list[NoticeRecord], monkeypatch: pytest.MonkeyPatch) -> None:
    """The flood's cross join, region polygons included: PostgreSQL writes the rows (it fell
    back to the Python writers while the polygons were there) and the bytes are the
    Python writers' (MAXREC cut included)."""
    query = "SELECT a.*, b.* FROM nufair.alerts AS a, nufair.alerts AS b"
    service = TapService(VoStorage(engine), VoConfig())
    monkeypatch.setattr(resultstream, "SMALL_ROWS", 10**6)
    by_python, how = _answer(service, query)
    assert how is None
    monkeypatch.setattr(resultstream, "SMALL_ROWS", 0)
    by_sql, how = _answer(service, query)
    assert how == "tabledata"
    assert by_sql == by_python
    assert by_sql.count(b"<TR>") == 25 and b"<TD>77.4" in by_sql
