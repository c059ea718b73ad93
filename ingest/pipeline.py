"""The realtime pipeline: raw event → selection → revision 0 with its notices → scan.

:meth:`Pipeline.accept` validates a raw event (:mod:`ingest.rawevent`: strict JSON, the
schema ``schemas/raw_event.schema.json``, plausibility), de-duplicates it on (observatory,
run, event) BEFORE any fit (concurrent repeats take turns on an advisory lock of the
identity, so only the first runs the selection), runs the selection (first guess, energy,
signalness, stream) and stores, in ONE transaction, the raw event, the catalog event with
its initial revision, the notices of every configured sink and, for an alert, a realtime
scan that will publish the update revision (:mod:`ingest.scanning.runner`). Non-alerts are archived
(stream ``none``) and not published. After the commit the dispatcher is woken so that the
initial notice leaves at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from catalog.errors import InvalidInput
from catalog.notices.parsed import ErrorRegion, NoticeRecord, RevisionKind, Source, Stream
from catalog.storage.outbox import OutboxStorage, StoredRevision
from catalog.storage.raw_events import IngestStorage, RawEventRow
from ingest.rawevent import validate_raw_event
from ingest.selection import Selection, select_event
from reco.detector import Detector
from reco.event import Event
from reco.firstguess import BudgetExceeded, first_guess_budget


def parse_raw_event(body: Any) -> Event:
    """Validate ``body`` (decoded JSON) and build the reco event; ``InvalidInput`` if bad
    (:func:`ingest.rawevent.validate_raw_event`: size, schema, plausibility)."""
    return validate_raw_event(body)


class WorkBudgetExceeded(InvalidInput):
    """The first guess of an event took longer than its budget (the event is refused)."""

    code = "work_budget_exceeded"


@dataclass(frozen=True, slots=True)
class Accepted:
    """Outcome of :meth:`Pipeline.accept`.

    ``created`` is False for a repeat of an event already received: ``raw`` then describes
    the stored one and nothing new was written.
    """

    created: bool
    raw: RawEventRow
    revision: StoredRevision | None
    selection: Selection | None


def initial_record(event: Event, sel: Selection) -> NoticeRecord:
    """Revision 0 of ``event`` from its selection (the first guess and its calibrated
    circles)."""
    return NoticeRecord(
        observatory=event.observatory, run_id=event.run_id, event_id=event.event_id,
        name=None, stream=Stream(sel.stream), event_time=event.time,
        kind=RevisionKind.INITIAL, source=Source.RECO, source_rev=0,
        source_key=f"reco:{event.observatory}:{event.run_id}:{event.event_id}:0",
        issued_at=datetime.now(UTC), ra=sel.ra_deg, dec=sel.dec_deg,
        regions=(ErrorRegion(0.5, radius_deg=sel.r50_deg),
                 ErrorRegion(0.9, radius_deg=sel.r90_deg)),
        energy_tev=sel.energy_tev, signalness=sel.signalness, far_per_year=sel.far_per_year,
        extra={"estimator": "reco first guess", "selection": sel.to_json()})


#: Wall-clock budget of one event's first guess [s]: ~100 × the 0.2-0.5 s of an alert
#: event; the largest accepted event (10⁵ pulses) takes ~25 s on a busy 2-core machine.
FIRST_GUESS_BUDGET_S = 60.0


class Pipeline:
    """Accept raw events; publish their initial revisions."""

    def __init__(self, outbox: OutboxStorage, raw: IngestStorage,
                 detector: Callable[[], Detector],
                 on_queued: Callable[[], None] = lambda: None,
                 on_alert: Callable[[RawEventRow], None] = lambda _row: None,
                 enqueue_scan: Callable[[Connection, int], object] | None = None,
                 first_guess_budget_s: float = FIRST_GUESS_BUDGET_S) -> None:
        self.outbox = outbox
        self.first_guess_budget_s = first_guess_budget_s
        #: Longest wait for a concurrent request of the same identity (its whole fit).
        self.lock_timeout_s = 2 * first_guess_budget_s + 30.0
        self.enqueue_scan = enqueue_scan
        self.raw = raw
        self._detector = detector
        self.on_queued = on_queued
        self.on_alert = on_alert

    def accept(self, body: Any) -> Accepted:
        """Validate, de-duplicate, select and store one decoded raw event."""
        event = parse_raw_event(body)
        identity = (event.observatory, event.run_id, event.event_id)
        existing = self.raw.find(*identity)
        if existing is not None:
            return Accepted(False, existing, None, None)
        with self.raw.identity_lock(*identity, timeout_s=self.lock_timeout_s):
            # Whoever held the lock before us may have stored it meanwhile.
            existing = self.raw.find(*identity)
            if existing is not None:
                return Accepted(False, existing, None, None)
            return self._select_and_store(body, event)

    def _select_and_store(self, body: Any, event: Event) -> Accepted:
        try:
            with first_guess_budget(self.first_guess_budget_s):
                sel = select_event(event, self._detector())
        except BudgetExceeded as exc:
            raise WorkBudgetExceeded(
                f"first guess of this event exceeded its budget of "
                f"{self.first_guess_budget_s:g} s ({event.n_pulses} pulses); refused",
                details={"budget_s": self.first_guess_budget_s,
                         "n_pulses": event.n_pulses}) from exc
        raw_pk: list[int | None] = []

        def link(conn: Connection, stored: list[StoredRevision]) -> None:
            raw_pk.append(IngestStorage.insert_in(
                conn, body, event_pk=stored[0].event_pk, stream=sel.stream,
                selection=sel.to_json()))
            if raw_pk[0] is None:  # a concurrent request stored it first: undo ours
                raise _Duplicate
            if stored[0].stream != "none" and self.enqueue_scan is not None:
                # The refining scan is queued with the alert: both or neither are stored.
                self.enqueue_scan(conn, raw_pk[0])

        try:
            (stored,) = self.outbox.store([initial_record(event, sel)], also=link)
        except (_Duplicate, IntegrityError):
            again = self.raw.find(event.observatory, event.run_id, event.event_id)
            if again is None:
                raise
            return Accepted(False, again, None, None)
        if stored.notices:
            self.on_queued()
        row = self.raw.get(raw_pk[0])  # type: ignore[arg-type]
        assert row is not None
        if stored.stream != "none":
            self.on_alert(row)
        return Accepted(True, row, stored, sel)


class _Duplicate(Exception):
    """The raw event was stored by a concurrent request during ours."""
