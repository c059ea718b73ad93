"""The bulk paths of the import: revisions and region tiles through COPY.

COPY is the fastest way rows go into PostgreSQL, and it sends no SQL text per row: the
multi-row ``INSERT ... VALUES`` SQLAlchemy builds for an ``executemany`` with RETURNING is
one statement of tens of thousands of placeholders, which psycopg re-parses on every call
(a fifth of the import's time in a profile of 2000 notices). Revision ids are drawn from
the table's identity sequence first, so that no RETURNING is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb
from sqlalchemy import BigInteger, ColumnElement, String, Text, any_, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

_JSON_COLUMNS = frozenset({"provenance", "conflicts"})


def any_of(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column = ANY(:array)``: one parameter however many values (an ``IN`` list is one
    placeholder per value, and its SQL text is parsed again for every length)."""
    item = Text() if isinstance(column.type, String) else BigInteger()
    return column == any_(bindparam(None, list(values), type_=ARRAY(item)))


def _raw(conn: Connection) -> Any:
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw


def copy_revisions(conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """COPY ``rows`` (``revisions`` rows without ``id``) into ``revisions``; the id of each
    by its source key."""
    if not rows:
        return {}
    ids = list(conn.execute(text(
        "SELECT nextval(pg_get_serial_sequence('revisions', 'id')) "
        "FROM generate_series(1, :n)"), {"n": len(rows)}).scalars())
    columns = list(rows[0])
    json_at = [i for i, c in enumerate(columns) if c in _JSON_COLUMNS]
    with _raw(conn).cursor() as cur, cur.copy(
        f"COPY revisions (id, {', '.join(columns)}) FROM STDIN"
    ) as copy:
        for pk, row in zip(ids, rows, strict=True):
            values = [row[c] for c in columns]
            for i in json_at:
                values[i] = Jsonb(values[i])
            copy.write_row((pk, *values))
    return {row["source_key"]: pk for pk, row in zip(ids, rows, strict=True)}


def copy_tiles(conn: Connection, tiles: Iterable[tuple[int, int, np.ndarray]]) -> None:
    """COPY (revision pk, level, order-29 ranges ``[lo, hi)``) tiles into ``region_tiles``,
    in one COPY for the whole batch, written as text blocks (one write per revision)."""
    with _raw(conn).cursor() as cur, cur.copy(
        "COPY region_tiles (revision_pk, level, hpx) FROM STDIN"
    ) as copy:
        for revision_pk, level, ranges in tiles:
            if len(ranges):
                head = f"{revision_pk}\t{level}\t["
                copy.write("".join(f"{head}{lo},{hi})\n" for lo, hi in ranges.tolist()))
