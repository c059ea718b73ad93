"""The transaction a TAP query runs in: read-only, time-limited, UTC, as the TAP role.

Translated ADQL runs in a READ ONLY transaction with a statement timeout, as the role
``nufair_tap`` when the migration could create it and the connecting user may assume it
(otherwise in the read-only transaction alone). Uploaded tables are copied into temporary
tables of that transaction first (the transaction becomes read-only right after). Database
errors of a query become the VO errors the client sees (:func:`refused`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg

from catalog.storage.dberrors import outage
from vo.adql.dberrors import adql_message
from vo.adql.scope import quote
from vo.adql.translate import PG_TYPE, UPLOAD_HPX, UploadTable
from vo.adql.uploads import UPLOAD_ROW
from vo.errors import DatabaseUnavailable, QueryFailed, VoError
from vo.formats.pgcopy import CopyColumn, copy_data

#: The role TAP queries run as (created by migration 0002 where allowed).
TAP_ROLE = "nufair_tap"

#: Memory one sort or hash of a TAP query may use before spilling to disk.
WORK_MEM = "32MB"


def refused(exc: psycopg.Error, limit_s: float | None = None) -> VoError:
    """The VO error for a database error: 503 for an outage, else the query failed (a
    timeout says the time limit, ``limit_s`` seconds, when given)."""
    if outage(exc):
        return DatabaseUnavailable("the database is unavailable; try again shortly")
    return QueryFailed(_readable(exc, limit_s))


def _readable(exc: psycopg.Error, limit_s: float | None) -> str:
    primary = exc.diag.message_primary or str(exc).splitlines()[0]
    code = exc.sqlstate or ""
    if code == "57014":
        return timeout_message(limit_s)
    return adql_message(code, primary)


def timeout_message(limit_s: float | None) -> str:
    """What a client is told when its query ran past the time limit (``limit_s``)."""
    limit = "" if limit_s is None else f" of {limit_s:g} s"
    return (f"query took longer than the time limit{limit} and was cancelled (TAP async "
            "jobs, /tap/async, may run up to the executionDuration of /tap/capabilities)")


def role_available(conn: psycopg.Connection[Any]) -> bool:
    """Whether the TAP role exists and the connecting user may assume it."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %(r)s)"
        " AND pg_has_role(current_user, %(r)s, 'MEMBER')", {"r": TAP_ROLE}).fetchone()
    return bool(row[0]) if row is not None else False


def settings(timeout_ms: int, base_url: str, as_role: bool) -> tuple[str, dict[str, str]]:
    """One statement that makes the open transaction a TAP query's: read-only, the limits of
    :func:`limits`, the TAP role when ``as_role`` (``set_config`` calls, so that the whole
    setup is one statement of a pipeline, see :meth:`vo.resultstream.ResultStream.probe`)."""
    values = {"transaction_read_only": "on", "statement_timeout": str(int(timeout_ms)),
              "nufair.base_url": base_url.rstrip("/"), "work_mem": WORK_MEM,
              "TimeZone": "UTC"}
    if as_role:
        values["role"] = TAP_ROLE
    names = list(values)
    calls = ", ".join(f"set_config(%(n{i})s, %(v{i})s, true)" for i in range(len(names)))
    params = {f"n{i}": n for i, n in enumerate(names)}
    params |= {f"v{i}": values[n] for i, n in enumerate(names)}
    return f"SELECT {calls}", params


def limits(timeout_ms: int, base_url: str = "") -> str:
    """The SET LOCAL statements of a TAP transaction (one round trip).

    Every part is a constant of this module, an int of the config, or the service's base
    URL as a quoted literal (``nufair.base_url``: the start of the URLs ``ivoa.obscore``
    builds, migration ``0015_obscore``).
    """
    url = base_url.rstrip("/").replace("'", "''")
    return (f"SET LOCAL statement_timeout = {int(timeout_ms)}; "
            f"SET LOCAL nufair.base_url = '{url}'; "
            # work_mem caps each sort/hash of a user query: a hostile ORDER BY or join
            # spills to disk instead of taking the server's memory.
            f"SET LOCAL work_mem = '{WORK_MEM}'; "
            "SET LOCAL TimeZone = 'UTC'")


def begin_tap(conn: psycopg.Connection[Any], timeout_ms: int, as_role: bool,
              uploads: Sequence[UploadTable], base_url: str = "") -> None:
    """Open the transaction of a TAP query: limits, uploads, then read-only (as the TAP
    role when ``as_role``)."""
    role = f"; SET LOCAL ROLE {TAP_ROLE}" if as_role else ""
    if not uploads:
        conn.execute("SET TRANSACTION READ ONLY; " + limits(timeout_ms, base_url) + role)
        return
    conn.execute(limits(timeout_ms, base_url))
    for up in uploads:
        load_upload(conn, up, as_role)
    # Allowed at any point of a transaction (only read-write after read-only is not).
    conn.execute("SET LOCAL transaction_read_only = on" + role)


def load_upload(conn: psycopg.Connection[Any], up: UploadTable, grant: bool) -> None:
    """``up`` as a temporary table of the open transaction (dropped at its end)."""
    names = [quote(c.name) for c in up.columns]
    types = [PG_TYPE.get(c.datatype, "text") for c in up.columns]
    data = [CopyColumn(c.datatype, c.values, c.nulls) for c in up.columns]
    if up.point is not None and up.hpx is not None and up.hpx_nulls is not None:
        names.append(UPLOAD_HPX)
        types.append("bigint")
        data.append(CopyColumn("long", up.hpx, up.hpx_nulls))
    names.append(UPLOAD_ROW)
    types.append("bigint")
    data.append(CopyColumn("long", np.arange(up.rows, dtype=np.int64),
                           np.zeros(up.rows, dtype=bool)))
    if up.bulk and up.hpx is not None:
        # In sky order: the sources of one tile then sit on one or two pages, and the
        # tile scan reads ~30 % less (measured for issue 5).
        order = np.argsort(up.hpx, kind="stable")
        data = [CopyColumn(c.datatype, c.values[order], c.nulls[order]) for c in data]
    columns = ", ".join(f"{n} {t}" for n, t in zip(names, types, strict=True))
    conn.execute(f"CREATE TEMPORARY TABLE {up.relation} ({columns}) ON COMMIT DROP")
    with conn.cursor().copy(f"COPY {up.relation} FROM STDIN (FORMAT binary)") as copy:
        for chunk in copy_data(data):
            copy.write(chunk)
    if up.bulk and up.point is not None:
        conn.execute(f"CREATE INDEX ON {up.relation} ({UPLOAD_HPX})")
    # Statistics for the planner (its size above all); a small sample is enough, and
    # the default one took ~40 ms for 100 k rows.
    conn.execute(f"SET LOCAL default_statistics_target = 10; ANALYZE {up.relation}; "
                 "RESET default_statistics_target")
    if grant:
        conn.execute(f"GRANT SELECT ON {up.relation} TO {TAP_ROLE}")
