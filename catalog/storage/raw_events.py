"""Storage of the realtime pipeline's own rows: raw events as received.

:class:`IngestStorage` reads them and holds the identity lock; :class:`RawEventStore`
writes them on the open transaction of a flow (:func:`catalog.storage.unit.catalog_tx`).
(Scans and their snapshots are in :mod:`catalog.storage.scans`.)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine

from catalog.schema.events import events
from catalog.schema.ingest import RawEventRead, raw_events


def canonical_sha256(body: dict[str, Any]) -> str:
    """SHA-256 of the body as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


#: First key of the two-key advisory locks on a raw event's identity ("raw1" in ASCII):
#: keeps them apart from other users of advisory locks (``vo.uws.storage`` uses "uws1").
IDENTITY_LOCK_SPACE = 0x72617731


def identity_key(observatory: str, run_id: int, event_id: int) -> int:
    """Second key of the identity lock: 32 bits of SHA-256 of (observatory, run, event).

    Two identities that share a key only wait for each other; they never merge."""
    digest = hashlib.sha256(f"{observatory}\x00{run_id}\x00{event_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


#: A stored raw event as :class:`RawEventRead` (every column but the body, and the event's
#: name).
_SELECT = (select(*(raw_events.c[k] for k in RawEventRead.model_fields if k != "name"),
                  events.c.name)
           .select_from(raw_events.outerjoin(events, events.c.id == raw_events.c.event_pk)))


class IngestStorage:
    """Reads and writes of ``raw_events``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def find(self, observatory: str, run_id: int, event_id: int) -> RawEventRead | None:
        """The raw event of this identity, if received."""
        with self.engine.connect() as conn:
            r = conn.execute(_SELECT.where(raw_events.c.observatory == observatory,
                                           raw_events.c.run_id == run_id,
                                           raw_events.c.event_id == event_id)
                             ).mappings().first()
        return None if r is None else RawEventRead.model_validate(r)

    @contextmanager
    def identity_lock(self, observatory: str, run_id: int, event_id: int, *,
                      timeout_s: float = 120.0, poll_s: float = 0.05) -> Iterator[bool]:
        """Hold the advisory lock of one raw-event identity while the block runs.

        Concurrent requests for the same (observatory, run, event) take turns, so that only
        the first runs the selection; the others find its row when their turn comes. The
        waiters poll ``pg_try_advisory_lock`` and hold no connection between tries (a
        blocking wait would pin one pooled connection per waiter, and the holder needs
        another to store). Yields True when the lock is held; False after ``timeout_s``
        without it (the block then runs unlocked: the unique constraint still keeps one
        row).
        """
        key = identity_key(observatory, run_id, event_id)
        deadline = time.monotonic() + timeout_s
        while True:
            conn = self.engine.connect()
            try:
                got = bool(conn.execute(select(func.pg_try_advisory_lock(
                    IDENTITY_LOCK_SPACE, key))).scalar())
                conn.commit()
            except BaseException:
                conn.close()
                raise
            if got:
                break
            conn.close()
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(poll_s)
        try:
            yield True
        finally:
            try:
                conn.execute(select(func.pg_advisory_unlock(IDENTITY_LOCK_SPACE, key)))
                conn.commit()
            except Exception:
                conn.invalidate()  # a session lock must not go back to the pool
            finally:
                conn.close()

    def get(self, pk: int) -> RawEventRead | None:
        """The raw event ``pk``, if any."""
        with self.engine.connect() as conn:
            r = conn.execute(_SELECT.where(raw_events.c.id == pk)).mappings().first()
        return None if r is None else RawEventRead.model_validate(r)

    def body(self, pk: int) -> dict[str, Any]:
        """The body of raw event ``pk``, as received."""
        with self.engine.connect() as conn:
            value: dict[str, Any] = conn.execute(
                select(raw_events.c.body).where(raw_events.c.id == pk)).scalar_one()
        return value


class RawEventStore:
    """Writes of ``raw_events`` on one open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, body: dict[str, Any], *, event_pk: int | None, stream: str | None,
               selection: dict[str, Any]) -> int | None:
        """Insert a raw event; ``None`` when one of its identity already exists."""
        stmt = insert(raw_events).values(
            observatory=body["observatory"], run_id=body["run_id"], event_id=body["event_id"],
            event_pk=event_pk, body=body, sha256=canonical_sha256(body), stream=stream,
            selection=selection,
        ).on_conflict_do_nothing(constraint="uq_raw_events_identity").returning(raw_events.c.id)
        return self.conn.execute(stmt).scalar()

    def insert_or_find(self, body: dict[str, Any]) -> int:
        """A raw event with no catalog event (an inline scan): stored, or the one stored."""
        pk = self.insert(body, event_pk=None, stream=None, selection={})
        if pk is None:
            pk = int(self.conn.execute(select(raw_events.c.id).where(
                raw_events.c.observatory == body["observatory"],
                raw_events.c.run_id == body["run_id"],
                raw_events.c.event_id == body["event_id"])).scalar_one())
        return pk
