"""Read-only database access of the VO layer.

Translated ADQL runs in a READ ONLY transaction with a statement timeout, as the role
``nufair_tap`` when the migration could create it and the connecting user may assume it
(otherwise in the read-only transaction alone). Uploaded tables are copied into temporary
tables of that transaction first (the transaction becomes read-only right after). The cone
search and TAP run on the driver's connection (psycopg) from the engine's pool: one round
trip for a cone search (a prepared statement in autocommit mode), COPY for uploads and for
CSV results. DataLink reads are SQLAlchemy Core expressions. Nothing here writes the
catalog.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from catalog import sky
from catalog.schema.events import artifacts, events, region_tiles, revisions
from catalog.storage.dberrors import outage
from catalog.storage.fair import ARTIFACT_LANDING_KEY
from vo.adql.geometry import ascii_moc
from vo.adql.geomsql import haversine_sql
from vo.adql.scope import quote
from vo.adql.translate import PG_TYPE, UPLOAD_HPX, Translation, UploadTable
from vo.errors import DatabaseUnavailable, QueryFailed, VoError
from vo.formats import sqlformat
from vo.formats.pgcopy import CopyColumn, copy_data
from vo.formats.votable import delimited, field_specs
from vo.tables import ALERTS

#: The role TAP queries run as (created by migration 0002 where allowed).
TAP_ROLE = "nufair_tap"

#: Memory one sort or hash of a TAP query may use before spilling to disk.
WORK_MEM = "32MB"

#: Answers up to this many rows are written by the Python writers; larger ones, in CSV or
#: BINARY2, by PostgreSQL (``vo.formats.sqlformat``): for a few rows the wrapped query costs more
#: (~2 ms a query, measured for issue 5) than it saves.
SMALL_ROWS = 2000

#: Rows fetched from a server-side cursor at a time when an answer is streamed: ~2 MB of
#: TABLEDATA for a wide row (both sides of a join of the alerts).
STREAM_BATCH_ROWS = 200

#: Seconds the estimate of the region-tile count is reused (see :meth:`VoStorage.tile_rows`).
TILE_ESTIMATE_TTL_S = 60.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of a query, the PostgreSQL type OID of each column, and whether MAXREC cut it.

    When PostgreSQL encoded the answer (``vo.formats.sqlformat``), ``rows`` is empty and ``csv``
    holds the whole CSV document (header line first) or ``binary2`` the BINARY2 stream
    (before base64) of ``count`` rows.
    """

    rows: list[tuple[Any, ...]]
    type_oids: list[int]
    overflow: bool
    count: int = 0
    csv: bytes | None = None
    binary2: bytes | None = None


@dataclass(frozen=True, slots=True)
class ArtifactRow:
    id: int
    role: str
    filename: str
    media_type: str
    size_bytes: int
    storage_url: str
    revision: int | None
    landing_key: str | None


@dataclass(frozen=True, slots=True)
class DatasetRow:
    alert_id: int
    name: str | None
    revision: int
    revision_pk: int
    ivorn: str | None
    has_moc: dict[int, bool]
    artifacts: list[ArtifactRow]


def _refused(exc: psycopg.Error) -> VoError:
    """The VO error for a database error: 503 for an outage, else the query failed."""
    if outage(exc):
        return DatabaseUnavailable("the database is unavailable; try again shortly")
    return QueryFailed(_readable(exc))


def _readable(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary or str(exc).splitlines()[0]
    code = exc.sqlstate or ""
    if code == "57014":
        return "query took longer than the time limit and was cancelled"
    return f"query failed in the database: {primary}"


class VoStorage:
    """Read-only queries for TAP, SCS and DataLink."""

    def __init__(self, engine: Engine, timeout_s: float = 30.0) -> None:
        self.engine = engine
        self.timeout_ms = int(timeout_s * 1000)
        self._role: bool | None = None
        self._tiles: tuple[float, int] | None = None

    # ------------------------------------------------------------- connections
    def _call(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``fn`` on a pooled psycopg connection. The VO engine's pool does not ping a
        connection before lending it (one round trip per request); a connection the server
        dropped while it sat in the pool fails on first use and is replaced, once."""
        for attempt in range(2):
            fairy = self.engine.raw_connection()
            conn = fairy.driver_connection
            assert isinstance(conn, psycopg.Connection)
            try:
                return fn(conn)
            except psycopg.OperationalError:
                if not conn.broken or attempt:
                    raise
                fairy.invalidate()
            finally:
                fairy.close()
        raise AssertionError("unreachable")

    def _role_available(self, conn: psycopg.Connection[Any]) -> bool:
        if self._role is None:
            self._role = bool(conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %(r)s)"
                " AND pg_has_role(current_user, %(r)s, 'MEMBER')", {"r": TAP_ROLE}
            ).fetchone()[0])  # type: ignore[index]
        return self._role

    def _limits(self) -> str:
        # One round trip: every part is a constant of this module or an int of the config.
        return (f"SET LOCAL statement_timeout = {int(self.timeout_ms)}; "
                # work_mem caps each sort/hash of a user query: a hostile ORDER BY or join
                # spills to disk instead of taking the server's memory.
                f"SET LOCAL work_mem = '{WORK_MEM}'; "
                "SET LOCAL TimeZone = 'UTC'")

    def _read_only(self, conn: Connection) -> None:
        """Make the open SQLAlchemy transaction read-only, time-limited, UTC (DataLink)."""
        conn.exec_driver_sql("SET TRANSACTION READ ONLY; " + self._limits())

    def _begin_tap(self, conn: psycopg.Connection[Any], uploads: Sequence[UploadTable]) -> None:
        """Open the transaction of a TAP query: limits, uploads, then read-only (as the TAP
        role where it exists)."""
        role = f"; SET LOCAL ROLE {TAP_ROLE}" if self._role_available(conn) else ""
        if not uploads:
            conn.execute("SET TRANSACTION READ ONLY; " + self._limits() + role)
            return
        conn.execute(self._limits())
        for up in uploads:
            self._load_upload(conn, up, bool(role))
        # Allowed at any point of a transaction (only read-write after read-only is not).
        conn.execute("SET LOCAL transaction_read_only = on" + role)

    def _load_upload(self, conn: psycopg.Connection[Any], up: UploadTable, grant: bool) -> None:
        """``up`` as a temporary table of the open transaction (dropped at its end)."""
        names = [quote(c.name) for c in up.columns]
        types = [PG_TYPE.get(c.datatype, "text") for c in up.columns]
        data = [CopyColumn(c.datatype, c.values, c.nulls) for c in up.columns]
        if up.point is not None and up.hpx is not None and up.hpx_nulls is not None:
            names.append(UPLOAD_HPX)
            types.append("bigint")
            data.append(CopyColumn("long", up.hpx, up.hpx_nulls))
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

    # --------------------------------------------------------------------- TAP
    def _driver_sql(self, tr: Translation) -> tuple[str, dict[str, Any]]:
        """The translation in the driver's placeholder style (``%(name)s``, ``%`` escaped)."""
        compiled = text(tr.sql).compile(dialect=self.engine.dialect)
        return compiled.string, dict(tr.params)

    def run(self, tr: Translation, maxrec: int | None, uploads: Sequence[UploadTable] = (),
            encode: str | None = None) -> QueryResult:
        """Run a translated query; ``maxrec`` rows at most (the SQL fetches one more).

        ``encode`` ("csv" or "binary2") asks PostgreSQL to write the answer in that form
        (``vo.formats.sqlformat``); when it cannot (a MOC column, UCS-2 text, a value over 1 GB)
        the rows come back instead.
        """
        sql, params = self._driver_sql(tr)
        if any(c.kind == "moc" for c in tr.columns):
            encode = None

        def work(conn: psycopg.Connection[Any]) -> QueryResult:
            try:
                self._begin_tap(conn, uploads)
                cur = conn.cursor()
                # Never as prepared statements (psycopg prepares a text seen 5 times): a
                # generic plan would ignore the values, and users' queries vary in them.
                if encode is None:
                    cur.execute(sql, params, prepare=False)
                else:
                    # Small answers are written in Python (no second query to plan); the
                    # first rows tell which this is, and give the column types.
                    cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT {SMALL_ROWS + 1}", params,
                                prepare=False)
                oids = [d.type_code for d in (cur.description or [])]
                rows = cur.fetchall()
                if encode is not None and len(rows) > SMALL_ROWS:
                    done = self._encoded(cur, sql, params, tr, oids, maxrec, encode)
                    if done is not None:
                        return done
                    cur.execute(sql, params, prepare=False)
                    rows = cur.fetchall()
            finally:
                conn.rollback()
            overflow = maxrec is not None and len(rows) > maxrec
            if overflow:
                rows = rows[:maxrec]
            return QueryResult(rows, oids, overflow, len(rows))

        try:
            return self._call(work)
        except psycopg.Error as exc:
            raise _refused(exc) from None

    @staticmethod
    def _encoded(cur: psycopg.Cursor[Any], sql: str, params: dict[str, Any],
                 tr: Translation, oids: list[int], maxrec: int | None,
                 encode: str) -> QueryResult | None:
        def wrap(limit: int | None) -> str | None:
            if encode == "csv":
                return sqlformat.csv_query(sql, oids, limit)
            return sqlformat.binary2_query(sql, field_specs(tr.columns, oids), oids, limit)

        wrapped = wrap(None)
        if wrapped is None:
            return None
        cur.execute("SAVEPOINT encoded")
        try:
            # Binary results: the aggregate comes back as raw bytes (not hex, not decoded).
            row = cur.execute(wrapped, params, binary=True, prepare=False).fetchone()
            assert row is not None
            overflow = maxrec is not None and int(row[0]) > maxrec
            if overflow:  # one row too many: the same cut at MAXREC
                row = cur.execute(wrap(maxrec) or "", params, binary=True,
                                  prepare=False).fetchone()
                assert row is not None
        except psycopg.Error as exc:
            if getattr(exc, "sqlstate", None) not in sqlformat.TOO_LARGE:
                raise
            cur.execute("ROLLBACK TO SAVEPOINT encoded")
            return None
        count, value = int(row[0]), row[1]
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if encode == "csv":
            body = delimited(field_specs(tr.columns, oids), [], ",") + data  # header line
            return QueryResult([], oids, overflow, count, csv=body)
        return QueryResult([], oids, overflow, count, binary2=data)

    def open_stream(self, tr: Translation, maxrec: int | None,
                    uploads: Sequence[UploadTable] = (), encode: str | None = None,
                    admit: Callable[[PlanEstimate], None] | None = None,
                    deadline: float | None = None) -> ResultStream:
        """Run a translated query for an answer written while it is read (see
        :class:`ResultStream`); ``maxrec`` rows at most (the SQL fetches one more).

        ``admit``, when given, is called with the planner's estimate of the query before
        it runs (EXPLAIN, ~1 ms): it may wait, or raise to refuse the query. ``deadline``
        (``time.monotonic``) bounds the fetches too: each runs with what is left of it as
        its statement timeout.

        The first rows are fetched here, so that a query the database refuses at once
        raises :class:`QueryFailed` before any byte of the answer is written. A connection
        the server dropped while it sat in the pool is replaced, once.
        """
        sql, params = self._driver_sql(tr)
        if any(c.kind == "moc" for c in tr.columns):
            encode = None
        for attempt in range(2):
            fairy = self.engine.raw_connection()
            conn = fairy.driver_connection
            assert isinstance(conn, psycopg.Connection)
            stream = ResultStream(fairy, conn, maxrec, self.timeout_ms, deadline)
            try:
                stream.start(lambda c: self._begin_tap(c, uploads), sql, params, tr, encode,
                             admit)
                return stream
            except psycopg.OperationalError as exc:
                stream.close()
                if not conn.broken or attempt:
                    raise _refused(exc) from None
                fairy.invalidate()
            except psycopg.Error as exc:
                stream.close()
                raise _refused(exc) from None
            except BaseException:
                stream.close()
                raise
        raise AssertionError("unreachable")

    def tile_rows(self) -> int:
        """Estimated rows of the region tiles (``pg_class.reltuples``, kept by ANALYZE and
        autovacuum), reused for a minute."""
        now = time.monotonic()
        if self._tiles is None or now - self._tiles[0] > TILE_ESTIMATE_TTL_S:
            def count(conn: psycopg.Connection[Any]) -> int:
                conn.autocommit = True
                try:
                    row = conn.execute("SELECT reltuples FROM pg_class WHERE oid = "
                                       "'public.region_tiles'::regclass").fetchone()
                finally:
                    conn.autocommit = False
                return max(int(row[0]) if row else 0, 0)
            self._tiles = (now, self._call(count))
        return self._tiles[1]

    # -------------------------------------------------------------- cone search
    def cone(self, ra: float, dec: float, radius: float, columns: Sequence[str],
             maxrec: int) -> tuple[list[tuple[Any, ...]], bool]:
        """Current alerts within ``radius`` degrees of (ra, dec), nearest first.

        One prepared statement in autocommit mode (one round trip): it is this module's own
        fixed statement, limited to ``maxrec + 1`` rows, so it does not need the read-only,
        time-limited transaction that user-written ADQL runs in.
        """
        ranges = sky.cone_ranges(ra, dec, radius) if radius > 0 else None
        params: dict[str, Any] = {"ra": ra, "dec": dec, "radius": radius, "limit": maxrec + 1}
        if ranges is None:
            params["lo0"] = int(sky.point_index(ra, dec))
        else:
            for i, (lo, hi) in enumerate(ranges.tolist()):
                params[f"lo{i}"], params[f"hi{i}"] = lo, hi
        sql = _cone_sql(tuple(columns), None if ranges is None else len(ranges))

        def work(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            conn.autocommit = True
            try:
                return conn.execute(sql, params, prepare=True).fetchall()
            finally:
                conn.autocommit = False

        rows = self._call(work)
        return rows[:maxrec], len(rows) > maxrec

    # ----------------------------------------------------------------- datalink
    def datasets(self, keys: Sequence[tuple[int, int | None]]) -> dict[tuple[int, int | None],
                                                                      DatasetRow | None]:
        """The revision (or current revision when None) and artifacts of each (event, rev)."""
        out: dict[tuple[int, int | None], DatasetRow | None] = {}
        with self.engine.connect() as conn, conn.begin():
            self._read_only(conn)
            for alert_id, number in keys:
                stmt = (select(events.c.id, events.c.name, revisions.c.id.label("rpk"),
                               revisions.c.number, revisions.c.ivorn,
                               revisions.c.r50_deg, revisions.c.r90_deg)
                        .join(revisions, revisions.c.event_pk == events.c.id)
                        .where(events.c.id == alert_id))
                if number is None:
                    stmt = stmt.where(revisions.c.id == events.c.current_revision_pk)
                else:
                    stmt = stmt.where(revisions.c.number == number)
                row = conn.execute(stmt).first()
                if row is None:
                    out[(alert_id, number)] = None
                    continue
                arts = conn.execute(
                    select(artifacts.c.id, artifacts.c.role, artifacts.c.filename,
                           artifacts.c.media_type,
                           artifacts.c.size_bytes, artifacts.c.storage_url,
                           revisions.c.number, ARTIFACT_LANDING_KEY.label("landing_key"))
                    .outerjoin(revisions, revisions.c.id == artifacts.c.revision_pk)
                    .where(artifacts.c.event_pk == alert_id,
                           (artifacts.c.revision_pk == row.rpk)
                           | artifacts.c.revision_pk.is_(None))
                    .order_by(artifacts.c.role)).all()
                out[(alert_id, number)] = DatasetRow(
                    row.id, row.name, row.number, row.rpk, row.ivorn,
                    {50: row.r50_deg is not None, 90: row.r90_deg is not None},
                    [ArtifactRow(a.id, a.role, a.filename, a.media_type, a.size_bytes,
                                 a.storage_url, a.number, a.landing_key) for a in arts])
        return out

    def moc(self, alert_id: int, number: int | None, level: int) -> str | None:
        """ASCII MOC 2.0 of the ``level`` % region of a revision (current when None)."""
        rev = select(revisions.c.id).join(events, events.c.id == revisions.c.event_pk).where(
            events.c.id == alert_id)
        rev = rev.where(revisions.c.id == events.c.current_revision_pk) if number is None \
            else rev.where(revisions.c.number == number)
        stmt = (select(func.lower(region_tiles.c.hpx), func.upper(region_tiles.c.hpx))
                .where(region_tiles.c.revision_pk == rev.scalar_subquery(),
                       region_tiles.c.level == level)
                .order_by(func.lower(region_tiles.c.hpx)))
        with self.engine.connect() as conn, conn.begin():
            self._read_only(conn)
            ranges = [[int(a), int(b)] for a, b in conn.execute(stmt)]
        return ascii_moc(ranges)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except DBAPIError:
            return False


@dataclass(frozen=True, slots=True)
class PlanEstimate:
    """What the planner expects of a query: total cost (its units), rows, bytes a row."""

    cost: float
    rows: float
    width: int

    @property
    def bytes(self) -> float:
        """Estimated size of the answer's rows as the database sends them."""
        return self.rows * self.width


def plan_estimate(conn: psycopg.Connection[Any], sql: str,
                  params: dict[str, Any]) -> PlanEstimate:
    """The planner's estimate of ``sql`` (its top plan node), without running it. A cross
    join of 400 alerts at MAXREC 10 000: cost ~3e5, 10 000 rows of ~1 kB; ``SELECT name
    FROM nufair.alerts``: cost ~40 (measured for issue 12)."""
    row = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params, prepare=False).fetchone()
    assert row is not None
    plan = row[0]
    if isinstance(plan, str | bytes):
        plan = json.loads(plan)
    top = plan[0]["Plan"]
    return PlanEstimate(float(top["Total Cost"]), float(top["Plan Rows"]),
                        int(top["Plan Width"]))


class ResultStream:
    """The answer of a TAP query, read a batch at a time from a server-side cursor.

    Holds a pooled connection (an open read-only transaction) until :meth:`close`. When
    ``encoded`` is "csv" or "binary2", PostgreSQL formats each row (``vo.formats.sqlformat``) and
    :meth:`batches` yields 1-tuples of a CSV line (str) or BINARY2 record (bytes); otherwise
    database rows (tuples). Memory stays that of one batch, whatever the size of the
    answer. ``count`` and ``overflow`` (MAXREC cut it) are final once the batches end.
    """

    def __init__(self, fairy: Any, conn: psycopg.Connection[Any], maxrec: int | None,
                 timeout_ms: int = 0, deadline: float | None = None) -> None:
        self._fairy = fairy
        self._conn = conn
        self._cur: psycopg.ServerCursor[Any] | None = None
        self._first: list[Any] = []
        self.maxrec = maxrec
        self.type_oids: list[int] = []
        self.encoded: str | None = None
        self.count = 0
        self.overflow = False
        self._closed = False
        self._timeout_ms = timeout_ms  # the statement timeout set in the transaction
        self.deadline = deadline

    def _declare(self, sql: str, params: dict[str, Any], binary: bool = False) -> None:
        if self._cur is not None:
            self._cur.close()
        self._cur = self._conn.cursor(name="tap_answer", binary=binary)
        self._cur.execute(sql, params)

    def start(self, begin: Callable[[psycopg.Connection[Any]], None], sql: str,
              params: dict[str, Any], tr: Translation, encode: str | None,
              admit: Callable[[PlanEstimate], None] | None = None) -> None:
        """Open the transaction, (``admit`` the plan's estimate,) declare the cursor, fetch
        the first rows (and, for a large answer PostgreSQL can encode, declare the
        encoding cursor instead)."""
        begin(self._conn)
        if admit is not None:
            admit(plan_estimate(self._conn, sql, params))
        self._declare(sql, params)
        assert self._cur is not None
        self.type_oids = [d.type_code for d in (self._cur.description or [])]
        self._first = self._cur.fetchmany(SMALL_ROWS + 1)
        if encode is None or len(self._first) <= SMALL_ROWS:
            return
        if encode == "csv":
            wrapped: str | None = sqlformat.csv_rows_query(sql, self.type_oids)
        else:
            wrapped = sqlformat.binary2_rows_query(
                sql, field_specs(tr.columns, self.type_oids), self.type_oids)
        if wrapped is None:
            return
        self._declare(wrapped, params, binary=True)
        self._first = []
        self.encoded = encode

    def batches(self, size: int = STREAM_BATCH_ROWS) -> Iterator[list[Any]]:
        """Rows (or encoded rows) a batch at a time, at most ``maxrec`` in all.

        A database error while fetching raises :class:`QueryFailed`.
        """
        assert self._cur is not None
        pending, self._first = self._first, []
        try:
            while True:
                if not pending:
                    self._shorten_timeout()
                batch = pending or self._cur.fetchmany(size)
                pending = []
                if not batch:
                    return
                if self.maxrec is not None and self.count + len(batch) > self.maxrec:
                    batch = batch[:self.maxrec - self.count]
                    self.overflow = True
                self.count += len(batch)
                if batch:
                    yield batch
                if self.overflow:
                    return
        except psycopg.Error as exc:
            raise _refused(exc) from None

    def _shorten_timeout(self) -> None:
        """Lower the statement timeout to what is left before the deadline, when that is
        a second or more below the one set (so about one SET a second of streaming)."""
        if self.deadline is None:
            return
        left = max(int((self.deadline - time.monotonic()) * 1000), 1)
        if left < self._timeout_ms - 1000 or not self._timeout_ms:
            self._conn.execute(f"SET LOCAL statement_timeout = {int(left)}")
            self._timeout_ms = left

    def close(self) -> None:
        """End the transaction and give the connection back to the pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._cur is not None and not self._conn.broken:
                self._cur.close()
            if not self._conn.broken:
                self._conn.rollback()
        except psycopg.Error:
            self._fairy.invalidate()
        finally:
            self._fairy.close()


#: Columns of ``nufair.alerts`` the cone search may return (checked before they reach SQL).
_CONE_COLUMNS = frozenset(c.name for c in ALERTS.columns if c.moc_level is None)


@functools.lru_cache(maxsize=256)
def _cone_sql(columns: tuple[str, ...], n_ranges: int | None) -> str:
    """The cone search for ``n_ranges`` order-29 index ranges (None: SR = 0), built once.

    Parameters: ra, dec, radius, limit, and lo<i>/hi<i> of each range. The ranges are one
    OR (a BitmapOr on ``ix_revisions_hpx29``): joining an ``unnest`` of them instead was
    planned as a sequential scan of every revision with the distance as a filter (~4 ms at
    10 k alerts against 0.1 ms). The distance is the haversine form (accurate at small
    separations, where cone searches live).
    """
    assert all(c in _CONE_COLUMNS for c in columns)
    ra, dec = "CAST(%(ra)s AS double precision)", "CAST(%(dec)s AS double precision)"
    dist = haversine_sql(ra, dec, "a.ra", "a.dec")
    cols = ", ".join(f"a.{quote(c)}" for c in columns)
    if n_ranges is None:  # SR = 0: the alerts at exactly this position
        where = f"a.hpx29 = CAST(%(lo0)s AS bigint) AND a.ra = {ra} AND a.dec = {dec}"
    else:
        ors = " OR ".join(f"(a.hpx29 >= CAST(%(lo{i})s AS bigint) AND "
                          f"a.hpx29 < CAST(%(hi{i})s AS bigint))" for i in range(n_ranges))
        where = f"({ors}) AND {dist} <= CAST(%(radius)s AS double precision)"
    return (f"SELECT {cols}, {dist} AS _dist FROM nufair.alerts AS a WHERE {where}"
            " ORDER BY _dist LIMIT CAST(%(limit)s AS bigint)")
