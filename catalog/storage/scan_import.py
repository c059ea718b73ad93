"""Storage of imported scan results: a scan row that is born claimed, or removed again.

An imported result (skymap_scanner's JSON, :mod:`ingest.scan_import`) is stored like a scan
that ran here: a ``scans`` row, its final snapshot and, for ``publish='update'``, the update
revision (:class:`ingest.scanning.update.UpdatePublisher`). The publisher's writes are fenced
by a claim token; :meth:`ImportStorage.open_claimed` therefore inserts the row already claimed
by the importer (one claim, heartbeat now), and the importer keeps the heartbeat alive until
the result is stored, so no runner takes it (runners claim only rows without a live
heartbeat). If storing the result
fails, :meth:`ImportStorage.discard` removes the row and its snapshots: an import leaves a
finished scan or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert

from catalog.schema.ingest import ScanRead, scan_snapshots, scans
from catalog.storage.scans import ScanStorage
from catalog.storage.unit import catalog_tx


class ImportStorage:
    """Opens and discards the scan rows of imported results."""

    def __init__(self, scans_storage: ScanStorage) -> None:
        self.scans = scans_storage

    def open_claimed(self, raw_event_pk: int, *, config: dict[str, Any], labels: Sequence[str],
                     publish: str, worker: str) -> tuple[ScanRead, str]:
        """A new scan of ``raw_event_pk`` claimed by ``worker``; the row and its claim token.

        Its lane is ``reprocessing`` (an import is never realtime work)."""
        token = uuid4().hex
        with catalog_tx(self.scans.engine) as tx:
            pk = int(tx.conn.execute(insert(scans).values(
                raw_event_pk=raw_event_pk, priority="reprocessing", config=config,
                labels=list(labels), publish=publish, claimed_by=worker, claim_token=token,
                claims=1, started_at=func.now(), heartbeat_at=func.now(),
            ).returning(scans.c.id)).scalar_one())
        return self.scans.get(pk), token

    def discard(self, pk: int) -> None:
        """Remove scan ``pk`` and its snapshots (an import that could not be stored)."""
        with catalog_tx(self.scans.engine) as tx:
            tx.conn.execute(delete(scan_snapshots).where(scan_snapshots.c.scan_pk == pk))
            tx.conn.execute(delete(scans).where(scans.c.id == pk))
