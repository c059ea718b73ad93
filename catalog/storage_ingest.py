"""Storage of the realtime pipeline's own rows: raw events as received.

(Scans and their snapshots are in :mod:`catalog.storage_scans`.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine, RowMapping

from catalog.schema import events
from catalog.schema_ingest import raw_events


@dataclass(frozen=True, slots=True)
class RawEventRow:
    """A stored raw event and what became of it."""

    id: int
    observatory: str
    run_id: int
    event_id: int
    event_pk: int | None
    name: str | None
    stream: str | None
    selection: dict[str, Any]
    sha256: str
    received_at: datetime


def canonical_sha256(body: dict[str, Any]) -> str:
    """SHA-256 of the body as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _row(r: RowMapping) -> RawEventRow:
    return RawEventRow(**{k: r[k] for k in RawEventRow.__dataclass_fields__})


_SELECT = (select(raw_events.c.id, raw_events.c.observatory, raw_events.c.run_id,
                  raw_events.c.event_id, raw_events.c.event_pk, events.c.name,
                  raw_events.c.stream, raw_events.c.selection, raw_events.c.sha256,
                  raw_events.c.received_at)
           .select_from(raw_events.outerjoin(events, events.c.id == raw_events.c.event_pk)))


class IngestStorage:
    """Reads and writes of ``raw_events``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def find(self, observatory: str, run_id: int, event_id: int) -> RawEventRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(_SELECT.where(raw_events.c.observatory == observatory,
                                           raw_events.c.run_id == run_id,
                                           raw_events.c.event_id == event_id)
                             ).mappings().first()
        return None if r is None else _row(r)

    def get(self, pk: int) -> RawEventRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(_SELECT.where(raw_events.c.id == pk)).mappings().first()
        return None if r is None else _row(r)

    def body(self, pk: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            value: dict[str, Any] = conn.execute(
                select(raw_events.c.body).where(raw_events.c.id == pk)).scalar_one()
        return value

    @staticmethod
    def insert_in(conn: Connection, body: dict[str, Any], *, event_pk: int | None,
                  stream: str | None, selection: dict[str, Any]) -> int | None:
        """Insert a raw event on an open transaction; ``None`` when it already exists."""
        stmt = insert(raw_events).values(
            observatory=body["observatory"], run_id=body["run_id"], event_id=body["event_id"],
            event_pk=event_pk, body=body, sha256=canonical_sha256(body), stream=stream,
            selection=selection,
        ).on_conflict_do_nothing(constraint="uq_raw_events_identity").returning(raw_events.c.id)
        return conn.execute(stmt).scalar()

    def insert(self, body: dict[str, Any]) -> int:
        """Store a raw event that makes no catalog event (an inline scan); or find it."""
        with self.engine.begin() as conn:
            pk = self.insert_in(conn, body, event_pk=None, stream=None, selection={})
            if pk is None:
                pk = conn.execute(select(raw_events.c.id).where(
                    raw_events.c.observatory == body["observatory"],
                    raw_events.c.run_id == body["run_id"],
                    raw_events.c.event_id == body["event_id"])).scalar_one()
        return pk
