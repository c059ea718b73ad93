"""The answer of a TAP query read a batch at a time, and the planner's estimate of it.

A :class:`ResultStream` holds a pooled connection (an open read-only transaction, see
:mod:`vo.tapsession`) and a server-side cursor, so memory stays that of one batch whatever
the size of the answer. :func:`plan_estimate` asks the planner what a query will cost
before it runs, for the admission of heavy queries (:mod:`vo.slots`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from vo.adql.translate import Translation
from vo.formats import sqlformat
from vo.formats.fields import field_specs
from vo.tapsession import refused

#: Answers up to this many rows are written by the Python writers; larger ones, in CSV or
#: BINARY2, by PostgreSQL (``vo.formats.sqlformat``): for a few rows the wrapped query costs
#: more (~2 ms a query, measured for issue 5) than it saves.
SMALL_ROWS = 2000

#: Rows fetched from a server-side cursor at a time when an answer is streamed: ~2 MB of
#: TABLEDATA for a wide row (both sides of a join of the alerts).
STREAM_BATCH_ROWS = 200

#: At most this many rows, in at most :data:`PROBE_MS`, and a query without uploads is
#: answered whole by its probe (:meth:`ResultStream.probe`): one round trip, no EXPLAIN.
PROBE_ROWS = 200

#: The statement timeout of the probe, milliseconds. A query slower than this is no small
#: one: it is planned, admitted (:mod:`vo.slots`) and run again, the probe's time lost.
PROBE_MS = 100

#: Rows fetched at a time when PostgreSQL encodes them in CSV or BINARY2 (one cell a row,
#: ~20 bytes for ``id, name``; a few kB with a region polygon, so a few MB a batch): each
#: fetch is a round trip plus ~0.2 ms of driver work, and at 200 rows a 674 k-row
#: cross-match made 3 400 of them (issue 15, fifth session).
ENCODED_BATCH_ROWS = 2000


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


def _encoding_query(encode: str, sql: str, tr: Translation,
                    oids: list[int]) -> str | None:
    """The query whose rows are those of ``sql`` encoded by PostgreSQL in ``encode`` (csv,
    tabledata, binary2), or None where a column is not encoded in SQL."""
    if encode == "csv":
        return sqlformat.csv_rows_query(sql, oids)
    specs = field_specs(tr.columns, oids)
    if encode == "tabledata":
        return sqlformat.tabledata_rows_query(sql, specs, oids)
    return sqlformat.binary2_rows_query(sql, specs, oids)


class ResultStream:
    """The answer of a TAP query, read a batch at a time from a server-side cursor.

    Holds a pooled connection (an open read-only transaction) until :meth:`close`. When
    ``encoded`` is "csv", "tabledata" or "binary2", PostgreSQL formats each row
    (``vo.formats.sqlformat``) and :meth:`batches` yields 1-tuples of a CSV line or ``<TR>``
    element (str) or a BINARY2 record (bytes); otherwise
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
        self.limit_s = timeout_ms / 1000 if timeout_ms else None  # the query's whole limit
        self.deadline = deadline
        self._exhausted = False  # the cursor has no rows left (or there is none: a probe)

    def _declare(self, sql: str, params: dict[str, Any], binary: bool = False) -> None:
        if self._cur is not None:
            self._cur.close()
        self._cur = self._conn.cursor(name="tap_answer", binary=binary)
        self._cur.execute(sql, params)

    @property
    def whole(self) -> bool:
        """Whether every row of the answer is already fetched (the cursor at its end, or
        a probe answered it): writing it reads nothing more from the database."""
        return self._exhausted

    def probe(self, setup: tuple[str, dict[str, Any]], sql: str,
              params: dict[str, Any]) -> bool:
        """Try to answer the query whole in one round trip: a pipeline of the transaction's
        settings (``setup``, with the probe's statement timeout, see
        :func:`vo.tapsession.settings`), the query cut at ``PROBE_ROWS + 1`` rows, and
        ROLLBACK. True when that was the whole answer; else (more rows, or past the probe's
        timeout) the connection is left idle and the query must be :meth:`start`-ed.

        Most TAP queries are small (a cone, a point in the regions, an alert by name):
        for them the EXPLAIN before each query, which admits heavy ones, cost as much as the
        query (~1.1 ms of ~8 ms at 10 000 alerts, issue 15), and the transaction, cursor and
        fetches took nine round trips. A query that ends within the probe's timeout with a
        few rows needs no admission; any other is admitted as before, by the planner.
        """
        conn = self._conn
        cur = conn.cursor()
        keep = min(PROBE_ROWS, SMALL_ROWS)  # its answer is one the Python writers write
        try:
            with conn.pipeline():
                conn.execute(setup[0], setup[1], prepare=False)
                cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT {keep + 1}", params,
                            prepare=False)
                conn.execute("ROLLBACK", prepare=False)
        except psycopg.errors.QueryCanceled:
            conn.rollback()
            return False
        rows = cur.fetchall()
        if len(rows) > keep:
            return False
        self.type_oids = [d.type_code for d in (cur.description or [])]
        self._first = rows
        self._exhausted = True
        return True

    def start(self, begin: Callable[[psycopg.Connection[Any]], None], sql: str,
              params: dict[str, Any], tr: Translation, encode: str | None,
              admit: Callable[[PlanEstimate], None] | None = None) -> None:
        """Open the transaction, (``admit`` the plan's estimate,) declare the cursor, fetch
        the first rows (and, for a large answer PostgreSQL can encode, declare the
        encoding cursor instead).

        Converting rows to Python values holds the GIL for the whole batch (issue 12: it
        delayed the event loop): the first rows are fetched a stream batch at a time, and
        not at all when the planner already expects more than :data:`SMALL_ROWS`.
        """
        begin(self._conn)
        expected = 0.0
        if admit is not None:
            estimate = plan_estimate(self._conn, sql, params)
            admit(estimate)
            expected = estimate.rows
        self._declare(sql, params)
        assert self._cur is not None
        self.type_oids = [d.type_code for d in (self._cur.description or [])]
        if encode is None or expected <= SMALL_ROWS:
            self._first = self._fetch_first()
            if encode is None or len(self._first) <= SMALL_ROWS:
                return
        wrapped = _encoding_query(encode, sql, tr, self.type_oids)
        if wrapped is None:
            if expected > SMALL_ROWS:
                self._first = self._fetch_first()
            return
        self._declare(wrapped, params, binary=True)
        self._first = []
        self._exhausted = False
        self.encoded = encode

    def _fetch_first(self) -> list[Any]:
        """Up to ``SMALL_ROWS + 1`` rows, a stream batch at a time."""
        assert self._cur is not None
        rows: list[Any] = []
        while len(rows) <= SMALL_ROWS:
            want = min(STREAM_BATCH_ROWS, SMALL_ROWS + 1 - len(rows))
            batch = self._cur.fetchmany(want)
            rows += batch
            if len(batch) < want:  # the cursor is at its end: no FETCH to learn it again
                self._exhausted = True
                break
        return rows

    def batches(self, size: int = STREAM_BATCH_ROWS) -> Iterator[list[Any]]:
        """Rows (or encoded rows) a batch at a time, at most ``maxrec`` in all.

        A database error while fetching raises :class:`QueryFailed`.
        """
        pending, self._first = self._first, []
        if self.encoded in ("csv", "binary2"):
            size = max(size, ENCODED_BATCH_ROWS)
        try:
            while True:
                batch = pending or self._fetch(size)
                pending = []
                if not batch:
                    return
                if self.maxrec is not None and self.count + len(batch) > self.maxrec:
                    batch = batch[:self.maxrec - self.count]
                    self.overflow = True
                self.count += len(batch)
                if self.encoded == "tabledata":
                    batch = [(sqlformat.tabledata_row(r),) for r in batch]
                if batch:
                    yield batch
                if self.overflow:
                    return
        except psycopg.Error as exc:
            raise refused(exc, self.limit_s) from None

    def _fetch(self, size: int) -> list[Any]:
        """The next ``size`` rows of the cursor (none when it is known to be at its end)."""
        if self._exhausted:
            return []
        assert self._cur is not None
        self._shorten_timeout()
        return self._cur.fetchmany(size)

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
