"""The scan service's rules: what a scan request means, rescans, aborts, progress.

Handlers (:mod:`ingest.handlers.scans`) parse and shape; this module decides; SQL lives in
:mod:`catalog.storage.scans`; the work is done by :mod:`ingest.scanning.runner`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from catalog.errors import Conflict, InvalidInput
from catalog.schema.ingest import ScanRead, ScanSnapshotRead
from catalog.storage.events import CatalogStorage
from catalog.storage.raw_events import IngestStorage
from catalog.storage.scans import Priority, ScanStorage, State, scan_state
from ingest.rawevent import validate_raw_event
from ingest.scanning.config import MAX_NSIDE, config_from, config_to_reco
from reco.scan_config import ScanConfig

__all__ = ["MAX_NSIDE", "Progress", "ScanService", "config_from", "config_to_reco"]

@dataclass(frozen=True, slots=True)
class Progress:
    """How far a scan is, from its newest snapshot."""

    state: State
    fraction: float
    pixels_done: int
    pixels_total: int
    rate: float
    eta_s: float | None
    best: tuple[float, float, float] | None
    snapshots: int


class ScanService:
    """Requests, rescans, aborts and reads of scans."""

    def __init__(self, scans: ScanStorage, raw: IngestStorage, catalog: CatalogStorage,
                 defaults: ScanConfig, stale_after: timedelta,
                 on_queued: Callable[[], None] = lambda: None) -> None:
        self.scans = scans
        self.raw = raw
        self.catalog = catalog
        self.defaults = defaults
        self.stale_after = stale_after
        self.on_queued = on_queued

    def request(self, *, event: str | None, inline: dict[str, Any] | None,
                config: ScanConfig, priority: Priority, labels: Sequence[str],
                publish: str) -> ScanRead:
        """Queue a scan of a stored event (``event``: name, ``run_event`` or id) or of an
        inline raw event (validated like a posted one, stored without a catalog event)."""
        if (event is None) == (inline is None):
            raise InvalidInput("give exactly one of event and inline_event",
                               details={"parameter": "event"})
        if inline is not None:
            ev = validate_raw_event(inline)  # as every channel validates a raw event
            known = self.raw.find(ev.observatory, ev.run_id, ev.event_id)
            if publish == "update" and (known is None or known.event_pk is None):
                raise InvalidInput("an inline event has no catalog event to update; "
                                   "use publish=none or post it to /events/raw first",
                                   details={"parameter": "publish"})
            row = self.scans.create_inline(inline, priority=priority,
                                           config=config.to_json(), labels=labels,
                                           publish=publish)
            self.on_queued()
            return row
        assert event is not None
        with self.catalog.engine.connect() as conn:
            event_pk = self.catalog.resolve_event(conn, event).id
        found = self.scans.raw_event_of(event_pk)
        if found is None:
            raise Conflict(f"event {event!r} has no raw event to scan "
                           "(it was imported from a notice)", details={"event": event})
        raw_pk = found
        row = self.scans.create(raw_pk, priority=priority, config=config.to_json(),
                                labels=labels, publish=publish)
        self.on_queued()
        return row

    def rescan(self, pk: int, *, config: ScanConfig | None, priority: Priority | None,
               labels: Sequence[str] | None, publish: str | None) -> ScanRead:
        """A new scan of the same raw event, linked to ``pk`` as its origin."""
        origin = self.scans.get(pk)
        row = self.scans.create(
            origin.raw_event_pk, priority=priority or origin.priority,  # type: ignore[arg-type]
            config=(config or config_to_reco(origin.config)).to_json(),
            labels=origin.labels if labels is None else labels,
            publish=publish or origin.publish, origin_scan_pk=origin.id)
        self.on_queued()
        return row

    def abort(self, pk: int) -> ScanRead:
        """Ask for an abort of scan ``pk`` (see :meth:`ScanStorage.request_abort`)."""
        return self.scans.request_abort(pk)

    def state(self, row: ScanRead) -> State:
        """The state a scan's stored facts imply now."""
        return scan_state(row, self.stale_after)

    def progress(self, pk: int) -> tuple[ScanRead, Progress]:
        """Scan ``pk`` and how far it is, from its newest snapshot."""
        row = self.scans.get(pk)
        snap: ScanSnapshotRead | None = self.scans.latest_snapshot(pk)
        state = self.state(row)
        if snap is None:
            return row, Progress(state, 0.0, 0, 0, 0.0, None, None, 0)
        best = (None if snap.best_ra is None or snap.best_dec is None or snap.best_llh is None
                else (snap.best_ra, snap.best_dec, snap.best_llh))
        return row, Progress(state, snap.fraction, snap.pixels_done, snap.pixels_total,
                             snap.rate, snap.eta_s, best, snap.seq)
