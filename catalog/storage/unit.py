"""One unit of work for the alert flow: the stores of a flow bound to ONE transaction.

A flow that publishes (a new alert, a scan's update, a retraction, an import) opens::

    with catalog_tx(engine) as tx:
        stored = tx.revisions.import_records(records)   # events and revisions
        tx.dois.mint(pids, stored.event_pks)            # DOIs, when PIDs are configured
        tx.outbox.insert(notices)                       # the notices that announce them
        tx.raw_events.insert(...); tx.scans.create(...) # the raw event, its realtime scan

and every store writes on the same connection: the block commits as a whole when it ends,
or rolls back as a whole when it raises. The stores hold no rules and call nothing back;
the order of the steps is the flow's own (``ingest.pipeline``, ``ingest.scanning.update``,
``catalog.publish``). No file I/O belongs inside the block: it holds row locks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from catalog.storage.fair import DoiStore
from catalog.storage.outbox import OutboxStore
from catalog.storage.raw_events import RawEventStore
from catalog.storage.revisions import RevisionStore
from catalog.storage.scans import ScanStore

T = TypeVar("T")

#: Attempts of a flow whose new alert name collided with a concurrent one's.
NAME_RACE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class CatalogTransaction:
    """The stores of one open transaction (see the module docstring)."""

    conn: Connection
    raw_events: RawEventStore
    revisions: RevisionStore
    scans: ScanStore
    outbox: OutboxStore
    dois: DoiStore


@contextmanager
def catalog_tx(engine: Engine) -> Iterator[CatalogTransaction]:
    """Open a transaction and yield its stores; commit when the block ends, roll back when
    it raises."""
    with engine.begin() as conn:
        yield CatalogTransaction(conn=conn, raw_events=RawEventStore(conn),
                                 revisions=RevisionStore(conn), scans=ScanStore(conn),
                                 outbox=OutboxStore(conn), dois=DoiStore(conn))


def name_race(exc: IntegrityError) -> bool:
    """Whether ``exc`` is two new events taking the same alert name at the same moment."""
    return "uq_events_name" in str(exc.orig)


def retry_name_race(flow: Callable[[], T], attempts: int = NAME_RACE_ATTEMPTS) -> T:
    """Run ``flow`` (a whole transaction) again when its new alert name was taken by a
    concurrent one meanwhile: the next attempt sees that name and picks the next letter."""
    for attempt in range(attempts):
        try:
            return flow()
        except IntegrityError as exc:
            if not name_race(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover
