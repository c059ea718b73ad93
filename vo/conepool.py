"""The cone search's own asyncio connections, so that a small cone search is answered on
the event loop, with no trip to a worker thread and back.

A cone search is one indexed statement (~0.1 ms in the database at 10 000 alerts). Run in
a worker thread it took two thread wake-ups besides the database's, ~0.35 ms of ~4 ms when
the machine had been idle between requests, as it is between a client's requests
(measured for issue 15). Here the statement is awaited on the loop instead, cut at
:data:`LOOP_ROWS` rows; a larger answer, or any trouble with these connections, is left to
the threaded path (:func:`vo.scs.search`). VERB=3 is left to it too: its rows carry the
region polygons, ~5 kB and ~160 µs of writing each (31 ms for 200 rows, measured).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy.engine import Engine

from vo.storage import cone_statement

#: At most this many rows are read on the event loop; a cone with more is answered by
#: the threaded path.
LOOP_ROWS = 200

#: At most this many rows of VERB 1 or 2 are also written on the loop: ~10 µs a row at
#: VERB 2 (1.9 ms for 200, measured), so ~0.5 ms. More are written in a worker thread.
WRITE_ON_LOOP_ROWS = 50


#: How these connections name themselves (``pg_stat_activity.application_name``).
APPLICATION_NAME = "nufair cone search"


class ConePool:
    """A few autocommit connections of the VO engine's database for cone searches, each
    passed to ``on_connect`` when made (the app lowers their backends as it lowers the VO
    engine's, :func:`nufair.priority.backend_lowering`)."""

    def __init__(self, engine: Engine, timeout_ms: int, size: int = 2,
                 wait_s: float = 0.2,
                 on_connect: Callable[[psycopg.AsyncConnection[Any]], None] | None = None,
                 ) -> None:
        _, kwargs = engine.dialect.create_connect_args(engine.url)
        conninfo = make_conninfo("", **{k: str(v) for k, v in kwargs.items()
                                         if isinstance(v, str | int)})
        options = f"-c jit=off -c statement_timeout={int(timeout_ms)}"
        self.wait_s = wait_s
        configure = None
        if on_connect is not None:
            hook = on_connect

            async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
                hook(conn)

        self._pool = AsyncConnectionPool(
            conninfo, min_size=1, max_size=size, open=False, name="cone-search",
            configure=configure, kwargs={"autocommit": True, "options": options,
                                         "application_name": APPLICATION_NAME})

    async def open(self) -> None:
        """Start connecting (the first connection is made in the background)."""
        await self._pool.open(wait=False)

    async def close(self) -> None:
        """Close the connections."""
        await self._pool.close()

    async def rows(self, ra: float, dec: float, radius: float, columns: list[str],
                   maxrec: int) -> tuple[list[tuple[Any, ...]], bool] | None:
        """The cone's rows and whether MAXREC cut them, as :meth:`VoStorage.cone` gives
        them; None when the answer has more than :data:`LOOP_ROWS` rows, or no connection
        was free within ``wait_s``, or the database failed: the threaded path answers then
        (and reports a failure as it always does)."""
        keep = min(maxrec, LOOP_ROWS)
        sql, params = cone_statement(ra, dec, radius, columns, keep + 1)
        try:
            async with self._pool.connection(timeout=self.wait_s) as conn:
                cur = await conn.execute(sql, params, prepare=True)
                got = await cur.fetchall()
        except (PoolTimeout, psycopg.Error):
            return None
        if len(got) <= keep:
            return got, False
        if keep == maxrec:
            return got[:maxrec], True
        return None

    @property
    def served(self) -> int:
        """Connections handed out so far (psycopg_pool's ``requests_num``)."""
        return int(self._pool.get_stats().get("requests_num", 0))
