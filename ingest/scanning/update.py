"""The end of a scan: the final snapshot and, for ``publish='update'``, the update revision.

The update revision carries the scan's best fit, its 50 % / 90 % regions (bounding boxes
on the revision row, the exact pixels as region tiles), the FITS skymaps and MOCs as
artifacts (SHA-256, MD5, size, media type) and its notices. :meth:`UpdatePublisher.finish`
reads top to bottom:

1. the files are written into a private temporary folder (under the artifact root, or the
   system's when artifacts go to an fsspec URL);
2. they are put under ``<event pk>/<next revision number>/`` of the artifact store
   (:mod:`ingest.scanning.artifacts`: a link into the local folder, or an upload checked
   for size) BEFORE any transaction, so no I/O runs while a row lock is held; the claim is
   checked first, so a runner that already lost it uploads nothing;
3. ONE transaction (:func:`catalog.storage.unit.catalog_tx`) stores the revision, its DOIs
   (when PIDs are configured), the artifact rows, the region tiles, the notices (which
   link the FITS skymap) and marks the scan done with its final snapshot.

A ``publish='update'`` scan that cannot publish (its event is retracted, or its raw event
has no catalog event) ends ``done`` with its result only, and says why in its ``note``
(``GET /api/v1/scans/{id}``).

A failed upload raises before the transaction, so no revision, artifact row, tile or
notice is stored, and the scan fails with the store's error (the runner's failure path).
Every write presents the runner's claim token (``token``): a runner whose claim was taken
meanwhile gets ``LostClaim`` and stores nothing (the runner keeps the claim alive with
heartbeats all along, so that only happens to a runner that really stalled).
If a concurrent writer took the revision number meanwhile, the transaction stores nothing
and the files are placed again under the next number. Files placed for a transaction that
did not commit stay as harmless, unreferenced orphans (locally or in the object store)
that a later successful attempt overwrites (same names). They are not deleted: a commit
error can be ambiguous (the commit may have happened), and once rolled back, the revision
number (so the same names) may already be another writer's. The temporary folder is always
removed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from catalog.notices.model import is_safe_name
from catalog.notices.parsed import ErrorRegion, NoticeRecord, RevisionKind, Source, Stream
from catalog.publish import Publisher
from catalog.schema.events import ArtifactFile, EventCurrentRead
from catalog.schema.ingest import ScanRead
from catalog.storage.events import CatalogStorage
from catalog.storage.revisions import StoredRevision
from catalog.storage.scans import ScanStorage, Snapshot
from catalog.storage.unit import catalog_tx
from catalog.subscriptions.probability import ProbabilityMap
from ingest.scanning.artifacts import ArtifactStore
from ingest.scanning.skymaps import WrittenFile, write_products
from reco.regions import Region
from reco.result import ScanResult
from reco.skymap import multiorder_density


def product_stem(row: ScanRead) -> str:
    """File-name stem of a scan's products, e.g. ``IceCube_140001_000000042``.

    ``ValueError`` for an observatory that is not a safe name or a negative number (rows
    written before names were validated must not put files elsewhere).
    """
    if not is_safe_name(row.observatory) or min(row.run_id, row.event_id) < 0:
        raise ValueError(f"scan {row.id}: observatory {row.observatory[:80]!r} / numbers "
                         "cannot name files")
    return f"{row.observatory}_{row.run_id}_{row.event_id:09d}"


def reported_regions(result: ScanResult) -> dict[int, Region]:
    """The region reported at 50 % and 90 %: calibrated when reco has a calibration,
    else Wilks."""
    out: dict[int, Region] = {}
    for level in (50, 90):
        by_name = {r.name: r for r in result.regions}
        chosen = by_name.get(f"calibrated-{level}") or by_name.get(f"wilks-{level}")
        if chosen is not None:
            out[level] = chosen
    return out


def update_record(row: ScanRead, event: EventCurrentRead, result: ScanResult,
                  regions: dict[int, Region]) -> NoticeRecord:
    """The update revision of the scanned event (energy, signalness and FAR carried over
    from the revision it updates: the scan refines the direction)."""
    b = result.best
    cur = event.current
    return NoticeRecord(
        observatory=row.observatory, run_id=row.run_id, event_id=row.event_id,
        name=row.event_name, stream=Stream(event.stream), event_time=event.event_time,
        kind=RevisionKind.UPDATE, source=Source.RECO, source_rev=None,
        source_key=f"reco:{row.observatory}:{row.run_id}:{row.event_id}:scan{row.id}",
        issued_at=datetime.now(UTC), ra=float(np.degrees(b.ra)) % 360.0,
        dec=float(np.degrees(b.dec)),
        regions=tuple(ErrorRegion(level / 100, ra_plus=r.ra_plus, ra_minus=r.ra_minus,
                                  dec_plus=r.dec_plus, dec_minus=r.dec_minus)
                      for level, r in sorted(regions.items())),
        energy_tev=None if cur is None else cur.energy_tev,
        signalness=None if cur is None else cur.signalness,
        far_per_year=None if cur is None else cur.far_per_year,
        extra={"estimator": "reco scan", "scan": row.id,
               "scan_config": result.config,
               "regions": {str(k): {"name": r.name, "threshold": r.threshold,
                                    "area_deg2": r.area_deg2, "systematics": r.systematics}
                           for k, r in regions.items()},
               "best_llh": b.llh})


def unpublished(row: ScanRead, event: EventCurrentRead | None) -> str | None:
    """Why a scan that asked for ``publish='update'`` publishes nothing (its ``note``), or
    None when it publishes (or was not asked to). ``event`` is its catalog event now."""
    if row.publish != "update":
        return None
    if event is None:
        return ("no update revision published: the scanned raw event has no catalog event; "
                "the result is on this scan only")
    cur = event.current
    if cur is not None and cur.kind == RevisionKind.RETRACTION.value:
        return (f"no update revision published: event {event.name or event.id} is retracted "
                f"(revision {cur.number}); the result is on this scan only")
    return None


@dataclass(frozen=True, slots=True)
class Finished:
    """How a scan ended ``done``: the update revision it published, or why none (``note``;
    both None when it was not asked to publish)."""

    revision: StoredRevision | None
    note: str | None = None


class UpdatePublisher:
    """Store the outcome of a finished scan (see the module docstring)."""

    def __init__(self, engine: Engine, publisher: Publisher, catalog: CatalogStorage,
                 scans: ScanStorage, store: ArtifactStore,
                 on_queued: Callable[[], None] = lambda: None) -> None:
        self.engine = engine
        self.publisher = publisher
        self.catalog = catalog
        self.scans = scans
        self.store = store
        self.on_queued = on_queued

    def finish(self, row: ScanRead, token: str, result: ScanResult, snap: Snapshot,
               ) -> Finished:
        """Final snapshot, outcome ``done`` and (if asked for) the update revision, under
        the claim ``token`` (``LostClaim``, nothing stored, if it is no longer held)."""
        payload = result.to_json()
        event = self._event(row)
        note = unpublished(row, event)
        if event is None or note is not None:
            with catalog_tx(self.engine) as tx:
                tx.scans.finish_done(row.id, token, snap, payload, None, note)
            return Finished(None, note)
        regions = reported_regions(result)
        record = update_record(row, event, result, regions)
        event_pk = event.id
        tmp = self.store.scratch()
        try:
            files = write_products(result, regions, tmp, product_stem(row))
            pmap = ProbabilityMap(*multiorder_density(result)[:2])  # for subscribers' shares
            for _attempt in range(NUMBER_ATTEMPTS):
                # 1. The files go where the revision's number says, before the transaction:
                #    no upload runs while the event's row is locked.
                number = self.scans.next_update_number(event_pk)
                self.scans.check(row.id, token)  # LostClaim: no upload for a lost claim
                placed = self._place(event_pk, number, files)
                # 2. One transaction: revision, DOIs, files, tiles, notices, scan done.
                stored = self._store(row, token, snap, payload, record, regions, number,
                                     placed, pmap)
                if stored is not None:
                    break
            else:
                raise RuntimeError(f"scan {row.id}: the revision number of event "
                                   f"{event_pk} kept moving; nothing stored")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if stored.notices:
            self.on_queued()
        return Finished(stored)

    def _event(self, row: ScanRead) -> EventCurrentRead | None:
        """The catalog event a ``publish='update'`` scan updates, as it stands now; None
        when it was not asked to publish or has no catalog event."""
        if row.publish != "update" or row.event_pk is None:
            return None
        with self.engine.connect() as conn:
            return self.catalog.resolve_event(conn, str(row.event_pk))

    def _place(self, event_pk: int, number: int, files: list[WrittenFile]) -> list[ArtifactFile]:
        """Put the files under ``<event pk>/<number>/`` of the store; their artifact rows.

        A failed upload raises here, before any transaction: nothing is stored and the scan
        fails with the store's error (the runner's failure path)."""
        urls = self.store.place(PurePosixPath(str(event_pk), str(number)), files)
        return [ArtifactFile(role=f.role, filename=f.path.name, media_type=f.media_type,
                             size_bytes=f.size_bytes, sha256=f.sha256, md5=f.md5,
                             storage_url=url)
                for f, url in zip(files, urls, strict=True)]

    def _store(self, row: ScanRead, token: str, snap: Snapshot, payload: dict[str, Any],
               record: NoticeRecord, regions: dict[int, Region], number: int,
               placed: list[ArtifactFile], pmap: ProbabilityMap | None = None,
               ) -> StoredRevision | None:
        """The one transaction of an update; None (and nothing stored) when a concurrent
        writer took revision ``number`` first, so the files are placed again."""
        try:
            with catalog_tx(self.engine) as tx:
                tx.scans.hold(row.id, token)  # LostClaim (nothing stored) if not ours
                # Issued now, as its notices are queued (not when the scan ended: writing
                # and placing the files took tens of seconds before).
                record = replace(record, issued_at=datetime.now(UTC))
                (rev,) = self.publisher.store_revisions(tx, [record])
                if rev.number != number:
                    raise _NumberTaken
                self.publisher.mint_dois(tx, [rev])
                tx.revisions.add_artifacts(rev.event_pk, rev.revision_pk, placed)
                tx.revisions.replace_region_tiles(rev.revision_pk, {
                    level: (r.moc.to_depth29_ranges, r.area_deg2, r.radius_deg)
                    for level, r in regions.items()})
                (rev,) = self.publisher.queue_notices(tx, [rev], pmap)
                tx.scans.finish_done(row.id, token, snap, payload, rev.revision_pk)
        except _NumberTaken:
            return None
        return rev


#: Attempts of an update whose revision number a concurrent writer took meanwhile.
NUMBER_ATTEMPTS = 3


class _NumberTaken(Exception):
    """Another revision of the event took the number the files were placed under."""
