"""The bulk paths of the import: revisions and region tiles through COPY.

COPY is the fastest way rows go into PostgreSQL, and it sends no SQL text per row: the
multi-row ``INSERT ... VALUES`` SQLAlchemy builds for an ``executemany`` with RETURNING is
one statement of tens of thousands of placeholders, which psycopg re-parses on every call
(a fifth of the import's time in a profile of 2000 notices). Revision ids are drawn from
the table's identity sequence first, so that no RETURNING is needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb
from sqlalchemy import BigInteger, ColumnElement, String, Text, any_, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Row

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


#: One UPDATE for every touched event, its values as one JSON array of rows (one statement,
#: not one per event: an import touches up to thousands).
_UPDATE_EVENTS = text("""
UPDATE events e SET current_revision_pk = v.cur, event_time = v.t, event_mjd = v.mjd,
    time_source = v.tsrc, time_precision_s = v.tprec, conflicts = v.conflicts,
    status = v.status, status_reason = v.reason, status_source = v.ssrc, updated_at = now()
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
     AS v(pk bigint, cur bigint, t timestamptz, mjd float8, tsrc text, tprec float8,
          conflicts jsonb, status text, reason text, ssrc text)
WHERE e.id = v.pk""")


#: Insert the events not stored yet; DO UPDATE (not DO NOTHING) locks each existing event
#: row until commit, which serialises concurrent imports of one event's revisions.
_UPSERT_EVENTS = text("""
INSERT INTO events (observatory, run_id, event_id, name, stream, event_time, event_mjd)
SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS v(observatory text, run_id bigint, event_id bigint, name text, stream text,
         event_time timestamptz, event_mjd float8)
ON CONFLICT ON CONSTRAINT uq_events_identity
DO UPDATE SET name = coalesce(events.name, excluded.name), updated_at = now()
RETURNING id, observatory, run_id, event_id, xmax::text::bigint = 0 AS inserted""")


def upsert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> Sequence[Row[Any]]:
    """Upsert ``events`` rows (one per identity) in one statement; (id, observatory, run_id,
    event_id, inserted) of each."""
    if not rows:
        return []
    return conn.execute(_UPSERT_EVENTS, {"rows": _json_rows(rows)}).all()


def update_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Set each event's current revision, time (source, precision), conflicts and status:
    ``rows`` of keys pk, cur, t, mjd, tsrc, tprec, conflicts (a list), status, reason,
    ssrc."""
    conn.execute(_UPDATE_EVENTS, {"rows": _json_rows(rows)})


def _json_rows(rows: Sequence[dict[str, Any]]) -> str:
    """``rows`` as one JSON array for ``jsonb_to_recordset``: a single parameter that the
    C encoder writes (psycopg dumps array parameters element by element in Python, a sixth
    of the importer's own time in a profile). Times go as ISO 8601 with their offset, and
    floats as their shortest round-trip repr, which PostgreSQL reads back to the same
    double: nothing is lost on the way."""
    return json.dumps([{k: v.isoformat() if isinstance(v, datetime) else v
                        for k, v in row.items()} for row in rows], allow_nan=False)


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
