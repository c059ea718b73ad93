"""Read-only database access of the VO layer: TAP queries, the cone search, DataLink.

TAP queries run in the read-only, time-limited transaction of :mod:`vo.tapsession`, their
answers streamed by :class:`vo.resultstream.ResultStream`. The cone search and TAP run on the
driver's connection (psycopg) from the engine's pool: one round trip for a cone search (a
prepared statement in autocommit mode), COPY for uploads and for CSV results. DataLink reads
are SQLAlchemy Core expressions (:mod:`vo.datasets`). Nothing here writes the catalog.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from catalog import sky
from vo import resultstream
from vo.adql.geometry import ascii_moc
from vo.adql.scope import quote
from vo.adql.translate import Translation, UploadTable
from vo.datasets import Dataset, DatasetKey, read_datasets, read_moc_ranges
from vo.formats import sqlformat
from vo.formats.delimited import delimited
from vo.formats.fields import field_specs
from vo.resultstream import PlanEstimate, ResultStream
from vo.tables import ALERTS
from vo.tapsession import begin_tap, limits, refused, role_available, settings

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


class VoStorage:
    """Read-only queries for TAP, SCS and DataLink."""

    def __init__(self, engine: Engine, timeout_s: float = 30.0, base_url: str = "",
                 probe_ms: int = resultstream.PROBE_MS) -> None:
        self.engine = engine
        self.base_url = base_url
        self.timeout_ms = int(timeout_s * 1000)
        #: The probe's timeout (:meth:`ResultStream.probe`); 0: no probe, every query is
        #: planned and admitted first.
        self.probe_ms = probe_ms if not self.timeout_ms or probe_ms < self.timeout_ms else 0
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
            self._role = role_available(conn)
        return self._role

    def _read_only(self, conn: Connection) -> None:
        """Make the open SQLAlchemy transaction read-only, time-limited, UTC (DataLink)."""
        conn.exec_driver_sql("SET TRANSACTION READ ONLY; " + limits(self.timeout_ms))

    def _begin_tap(self, conn: psycopg.Connection[Any], uploads: Sequence[UploadTable]) -> None:
        """Open the transaction of a TAP query (see :func:`vo.tapsession.begin_tap`)."""
        begin_tap(conn, self.timeout_ms, self._role_available(conn), uploads,
                  self.base_url)

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
                    first = resultstream.SMALL_ROWS + 1
                    cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT {first}", params,
                                prepare=False)
                oids = [d.type_code for d in (cur.description or [])]
                rows = cur.fetchall()
                if encode is not None and len(rows) > resultstream.SMALL_ROWS:
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
            raise refused(exc, self.timeout_ms / 1000) from None

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
        if encode != "tabledata" and any(c.kind == "moc" for c in tr.columns):
            encode = None  # MOCs are written in SQL for TABLEDATA only
        for attempt in range(2):
            fairy = self.engine.raw_connection()
            conn = fairy.driver_connection
            assert isinstance(conn, psycopg.Connection)
            stream = ResultStream(fairy, conn, maxrec, self.timeout_ms, deadline)
            try:
                if self.probe_ms and not uploads and stream.probe(
                        settings(self.probe_ms, self.base_url, self._role_available(conn)),
                        sql, params):
                    return stream
                stream.start(lambda c: self._begin_tap(c, uploads), sql, params, tr, encode,
                             admit)
                return stream
            except psycopg.OperationalError as exc:
                stream.close()
                if not conn.broken or attempt:
                    raise refused(exc, self.timeout_ms / 1000) from None
                fairy.invalidate()
            except psycopg.Error as exc:
                stream.close()
                raise refused(exc, self.timeout_ms / 1000) from None
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
        sql, params = cone_statement(ra, dec, radius, columns, maxrec + 1)

        def work(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            conn.autocommit = True
            try:
                return conn.execute(sql, params, prepare=True).fetchall()
            finally:
                conn.autocommit = False

        rows = self._call(work)
        return rows[:maxrec], len(rows) > maxrec

    # ----------------------------------------------------------------- datalink
    def datasets(self, keys: Sequence[DatasetKey]) -> dict[DatasetKey, Dataset | None]:
        """The revision (or current revision when None) and artifacts of each (event, rev)."""
        with self.engine.connect() as conn, conn.begin():
            self._read_only(conn)
            return read_datasets(conn, keys)

    def moc(self, alert_id: int, number: int | None, level: int) -> str | None:
        """ASCII MOC 2.0 of the ``level`` % region of a revision (current when None)."""
        with self.engine.connect() as conn, conn.begin():
            self._read_only(conn)
            ranges = read_moc_ranges(conn, alert_id, number, level)
        return ascii_moc(ranges)

    def ping(self) -> bool:
        """Whether the database answers (VOSI availability)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except DBAPIError:
            return False


#: Columns of ``nufair.alerts`` the cone search may return (checked before they reach SQL).
_CONE_COLUMNS = frozenset(c.name for c in ALERTS.columns if c.moc_level is None)


def cone_statement(ra: float, dec: float, radius: float, columns: Sequence[str],
                   limit: int) -> tuple[str, dict[str, Any]]:
    """The cone search's statement and parameters: current alerts within ``radius``
    degrees of (ra, dec), nearest first, ``limit`` rows at most."""
    ranges = sky.cone_ranges(ra, dec, radius) if radius > 0 else None
    params: dict[str, Any] = {"ra": ra, "dec": dec, "radius": radius, "limit": limit}
    if ranges is None:
        params["lo0"] = int(sky.point_index(ra, dec))
    else:
        for i, (lo, hi) in enumerate(ranges.tolist()):
            params[f"lo{i}"], params[f"hi{i}"] = lo, hi
    return _cone_sql(tuple(columns), None if ranges is None else len(ranges)), params


@functools.lru_cache(maxsize=256)
def _cone_sql(columns: tuple[str, ...], n_ranges: int | None) -> str:
    """The cone search for ``n_ranges`` order-29 index ranges (None: SR = 0), built once.

    Parameters: ra, dec, radius, limit, and lo<i>/hi<i> of each range. The ranges are one
    OR (a BitmapOr on ``ix_revisions_hpx29``): joining an ``unnest`` of them instead was
    planned as a sequential scan of every revision with the distance as a filter (~4 ms at
    10 k alerts against 0.1 ms). The distance is catalog.sky's great-circle distance.
    """
    assert all(c in _CONE_COLUMNS for c in columns)
    ra, dec = "CAST(%(ra)s AS double precision)", "CAST(%(dec)s AS double precision)"
    dist = sky.great_circle_sql(ra, dec, "a.ra", "a.dec")
    cols = ", ".join(f"a.{quote(c)}" for c in columns)
    if n_ranges is None:  # SR = 0: the alerts at exactly this position
        where = f"a.hpx29 = CAST(%(lo0)s AS bigint) AND a.ra = {ra} AND a.dec = {dec}"
    else:
        ors = " OR ".join(f"(a.hpx29 >= CAST(%(lo{i})s AS bigint) AND "
                          f"a.hpx29 < CAST(%(hi{i})s AS bigint))" for i in range(n_ranges))
        where = f"({ors}) AND {dist} <= CAST(%(radius)s AS double precision)"
    return (f"SELECT {cols}, {dist} AS _dist FROM nufair.alerts AS a WHERE {where}"
            " ORDER BY _dist LIMIT CAST(%(limit)s AS bigint)")
