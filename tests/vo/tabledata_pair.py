"""TABLEDATA of one query written both ways: by PostgreSQL (``sqlformat``) and by the Python
writer from the rows psycopg reads — what the TABLEDATA-in-SQL tests compare."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.engine import Engine

from vo.formats import sqlformat
from vo.formats.fields import FieldSpec, convert_rows
from vo.formats.rows import tabledata_rows


def _rows(conn: psycopg.Connection[Any], sql: str) -> tuple[list[Any], list[int]]:
    cur = conn.execute(sql)
    return cur.fetchall(), [d.type_code for d in cur.description or []]


def both_ways(engine: Engine, sql: str, specs: list[FieldSpec]) -> tuple[str, str]:
    """(written by PostgreSQL, written by the Python writer) for ``sql``'s rows."""
    fairy = engine.raw_connection()
    try:
        conn = fairy.driver_connection
        assert isinstance(conn, psycopg.Connection)
        rows, oids = _rows(conn, sql)
        query = sqlformat.tabledata_rows_query(sql, specs, oids)
        assert query is not None
        encoded, _ = _rows(conn, query)
    finally:
        fairy.close()
    by_sql = "".join(sqlformat.tabledata_row(r) for r in encoded)
    return by_sql, tabledata_rows(specs, convert_rows(rows, specs))
