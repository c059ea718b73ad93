"""The end of a scan: the final snapshot and, for ``publish='update'``, the update revision.

The update revision carries the scan's best fit, its 50 % / 90 % regions (bounding boxes
on the revision row, the exact pixels as region tiles), the FITS skymaps and MOCs as
artifacts (SHA-256, MD5, size, media type) and its notices. Order of work:

1. the files are written into a private temporary folder (under the artifact root, or the
   system's when artifacts go to an fsspec URL);
2. ONE transaction stores the revision, puts the files under
   ``<event pk>/<revision number>/`` of the artifact store (:mod:`ingest.scanning.artifacts`: a link
   into the local folder, or an upload checked for size) and records them, replaces the
   region tiles, renders the notices (which link the FITS skymap) and marks the scan done
   with its final snapshot.

A failed upload raises inside that transaction, so no revision, artifact row, tile or
notice is stored, and the scan fails with the store's error (the runner's failure path).
A failed transaction leaves no rows; files it had placed stay as harmless, unreferenced
orphans (locally or in the object store) that a later successful attempt overwrites (same
names). They are not deleted: a commit error can be ambiguous (the commit may have
happened), and once rolled back, the revision number (so the same names) may already be
another writer's. The temporary folder is always removed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import PurePosixPath

import numpy as np
from sqlalchemy.engine import Connection

from catalog.notices.model import is_safe_name
from catalog.notices.parsed import ErrorRegion, NoticeRecord, RevisionKind, Source, Stream
from catalog.storage.outbox import OutboxStorage, StoredRevision
from catalog.storage.scans import ArtifactFile, ScanRow, ScanStorage, Snapshot
from ingest.scanning.artifacts import ArtifactStore
from ingest.scanning.skymaps import WrittenFile, write_products
from reco.regions import Region
from reco.result import ScanResult


def product_stem(row: ScanRow) -> str:
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


def update_record(row: ScanRow, current: dict[str, object], result: ScanResult,
                  regions: dict[int, Region]) -> NoticeRecord:
    """The update revision of the scanned event (energy, signalness and FAR carried over
    from the revision it updates: the scan refines the direction)."""
    b = result.best
    return NoticeRecord(
        observatory=row.observatory, run_id=row.run_id, event_id=row.event_id,
        name=row.event_name, stream=Stream(str(current["stream"])),
        event_time=current["event_time"],  # type: ignore[arg-type]
        kind=RevisionKind.UPDATE, source=Source.RECO, source_rev=None,
        source_key=f"reco:{row.observatory}:{row.run_id}:{row.event_id}:scan{row.id}",
        issued_at=datetime.now(UTC), ra=float(np.degrees(b.ra)) % 360.0,
        dec=float(np.degrees(b.dec)),
        regions=tuple(ErrorRegion(level / 100, ra_plus=r.ra_plus, ra_minus=r.ra_minus,
                                  dec_plus=r.dec_plus, dec_minus=r.dec_minus)
                      for level, r in sorted(regions.items())),
        energy_tev=current["cur_energy_tev"],  # type: ignore[arg-type]
        signalness=current["cur_signalness"],  # type: ignore[arg-type]
        far_per_year=current["cur_far_per_year"],  # type: ignore[arg-type]
        extra={"estimator": "reco scan", "scan": row.id,
               "scan_config": result.config,
               "regions": {str(k): {"name": r.name, "threshold": r.threshold,
                                    "area_deg2": r.area_deg2} for k, r in regions.items()},
               "best_llh": b.llh})


class UpdatePublisher:
    """Store the outcome of a finished scan (see the module docstring)."""

    def __init__(self, outbox: OutboxStorage, scans: ScanStorage,
                 store: ArtifactStore, on_queued: Callable[[], None] = lambda: None,
                 ) -> None:
        self.outbox = outbox
        self.scans = scans
        self.store = store
        self.on_queued = on_queued

    def finish(self, row: ScanRow, worker: str, result: ScanResult, snap: Snapshot,
               ) -> StoredRevision | None:
        """Final snapshot, outcome ``done`` and (if asked for) the update revision."""
        payload = result.to_json()
        if row.publish != "update" or row.event_pk is None:
            with self.scans.engine.begin() as conn:
                self.scans.finish_done_in(conn, row.id, worker, snap, payload, None)
            return None
        with self.outbox.engine.connect() as conn:
            current = dict(self.outbox.catalog.resolve_event(conn, str(row.event_pk)))
        if current["cur_kind"] == RevisionKind.RETRACTION.value:
            # A retracted event gets no update: the result is kept on the scan only.
            with self.scans.engine.begin() as conn:
                self.scans.finish_done_in(conn, row.id, worker, snap, payload, None)
            return None
        regions = reported_regions(result)
        record = update_record(row, current, result, regions)
        tmp = self.store.scratch()
        try:
            stem = product_stem(row)
            files = write_products(result, regions, tmp, stem)

            def prepare(conn: Connection, stored: list[StoredRevision]) -> None:
                rev = stored[0]
                self._store_files(conn, rev, files)
                self.scans.attach_region_in(conn, rev.revision_pk, {
                    level: (r.moc.to_depth29_ranges, r.area_deg2, r.radius_deg)
                    for level, r in regions.items()})

            def also(conn: Connection, stored: list[StoredRevision]) -> None:
                self.scans.finish_done_in(conn, row.id, worker, snap, payload,
                                          stored[0].revision_pk)

            (stored,) = self.outbox.store([record], also=also, prepare=prepare)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if stored.notices:
            self.on_queued()
        return stored

    def _store_files(self, conn: Connection, rev: StoredRevision,
                     files: list[WrittenFile]) -> None:
        # Inside the revision's transaction: an upload that fails rolls it all back. It
        # holds the event's row lock meanwhile (seconds at most for a few MB of files).
        urls = self.store.place(PurePosixPath(str(rev.event_pk), str(rev.number)), files)
        rows = [ArtifactFile(role=f.role, filename=f.path.name, media_type=f.media_type,
                             size_bytes=f.size_bytes, sha256=f.sha256, md5=f.md5,
                             storage_url=url)
                for f, url in zip(files, urls, strict=True)]
        self.scans.add_artifacts_in(conn, rev.event_pk, rev.revision_pk, rows)
