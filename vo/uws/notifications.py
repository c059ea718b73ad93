"""Phase changes of TAP jobs as PostgreSQL notifications, shared by every app process.

Every phase change sends ``NOTIFY nufair_uws, '<job id> <phase>'`` in the transaction that
makes it (delivered at commit, see :mod:`vo.uws.storage`); a :class:`PhaseListener` receives
them, so a ``WAIT`` poll in one process returns as soon as another process finishes the job,
and idle runners wake when a job is queued anywhere.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

#: Channel of phase-change notifications; the payload is ``"<job id> <phase>"``.
CHANNEL = "nufair_uws"

#: Phase payload sent when a job is removed (not a UWS phase).
GONE = "DELETED"


def notify(conn: Connection, job_id: str, phase: str) -> None:
    """Announce, at the commit of ``conn``'s transaction, that ``job_id`` is now in ``phase``."""
    conn.execute(select(func.pg_notify(CHANNEL, f"{job_id} {phase}")))


class PhaseListener:
    """A connection of its own that LISTENs on :data:`CHANNEL`.

    Use :meth:`fileno` with ``select`` to sleep until something arrives, then
    :meth:`drain`. The connection is taken out of the engine's pool for good.
    """

    def __init__(self, engine: Engine) -> None:
        raw = engine.raw_connection()
        conn: Any = raw.driver_connection  # before detach() forgets it
        self._conn = conn
        raw.detach()
        self._raw = raw  # closing it closes the connection (it no longer goes back)
        self._conn.rollback()  # the pool's ping may have opened a transaction
        self._conn.autocommit = True
        self._conn.execute(f"LISTEN {CHANNEL}")

    def fileno(self) -> int:
        """The connection's socket, for ``select``."""
        return int(self._conn.fileno())

    def drain(self) -> list[tuple[str, str]]:
        """(job id, phase) of every notification received so far; never blocks."""
        out = []
        for n in self._conn.notifies(timeout=0):
            job_id, _, phase = n.payload.partition(" ")
            out.append((job_id, phase))
        return out

    def ping(self) -> None:
        """Raise if the connection is gone (a silent network failure)."""
        self._conn.execute("SELECT 1")

    def close(self) -> None:
        """Close the connection (it does not go back to the pool)."""
        # Closing a broken connection may fail; it is gone either way.
        with suppress(Exception):
            self._raw.close()
