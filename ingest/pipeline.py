"""The realtime pipeline: raw event → selection → revision 0 with its notices → scan.

:meth:`Pipeline.accept` reads top to bottom:

1. validate the raw event, once (:mod:`ingest.rawevent`: strict JSON, the schema
   ``schemas/raw_event.schema.json``, plausibility);
2. de-duplicate it on (observatory, run, event) BEFORE any fit (concurrent repeats take
   turns on an advisory lock of the identity, so only the first runs the selection);
3. select it (first guess, energy, signalness, stream);
4. in ONE transaction (:func:`catalog.storage.unit.catalog_tx`): the catalog event with
   its revision 0 (named by :mod:`catalog.publish`), its DOIs when PIDs are configured,
   the raw event, the notices of every configured sink and, for an alert, the realtime
   scan that will publish the update revision (:mod:`ingest.scanning.runner`);
5. after the commit, wake the dispatcher (the initial notice leaves at once) and, for an
   alert, the scan runner.

Non-alerts are archived (stream ``none``) and not published.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from catalog.errors import InvalidInput
from catalog.notices.parsed import ErrorRegion, NoticeRecord, RevisionKind, Source, Stream
from catalog.publish import Publisher
from catalog.schema.ingest import RawEventRead
from catalog.storage.raw_events import IngestStorage
from catalog.storage.revisions import StoredRevision
from catalog.storage.unit import catalog_tx, retry_name_race
from ingest.rawevent import raw_event_validator, validate_raw_event
from ingest.selection import Selection, select_event
from reco import kernel
from reco.detector import Detector
from reco.event import Event
from reco.firstguess import BudgetExceeded, first_guess_budget
from reco.scan import ScanConfig

log = logging.getLogger(__name__)


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
    raw: RawEventRead
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


#: Wall-clock budget of one event's first guess [s]: ~100 times the 0.2-0.5 s of an alert
#: event; the largest accepted event (10⁵ pulses) takes ~25 s on a busy 2-core machine.
FIRST_GUESS_BUDGET_S = 60.0


class Pipeline:
    """Accept raw events; publish their initial revisions (see the module docstring)."""

    def __init__(self, engine: Engine, publisher: Publisher, raw: IngestStorage,
                 detector: Callable[[], Detector], *,
                 realtime_scan: ScanConfig | None = None,
                 on_queued: Callable[[], None] = lambda: None,
                 on_alert: Callable[[], None] = lambda: None,
                 first_guess_budget_s: float = FIRST_GUESS_BUDGET_S) -> None:
        self.engine = engine
        self.publisher = publisher
        self.raw = raw
        self._detector = detector
        #: The config of the realtime scan queued with each alert (None: no scan).
        self.realtime_scan = realtime_scan
        self.on_queued = on_queued
        self.on_alert = on_alert
        self.first_guess_budget_s = first_guess_budget_s
        #: Longest wait for a concurrent request of the same identity (its whole fit).
        self.lock_timeout_s = 2 * first_guess_budget_s + 30.0

    def warm(self) -> None:
        """Pay once, before serving, what would otherwise delay the first alert: the compiled
        kernels, the detector, the raw-event validator, astropy's Earth-orientation tables
        and the first guess's threads (the selection of one seeded simulated 10 TeV track;
        well under a second)."""
        import numpy as np

        from reco.simulate import simulate_event

        kernel.warm()
        raw_event_validator()
        sim = simulate_event(np.random.default_rng(1), self._detector(), "throughgoing", 10.0)
        select_event(sim.event, self._detector())

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
            sel = self._select(event)
            try:
                raw_pk, stored = retry_name_race(lambda: self._store(body, event, sel))
            except (_Duplicate, IntegrityError):
                again = self.raw.find(*identity)
                if again is None:
                    raise
                return Accepted(False, again, None, None)
        row = self.raw.get(raw_pk)
        assert row is not None
        log.info("alert %s created: run %d event %d, stream %s, %d notice(s) queued",
                 stored.name or "(unnamed)", event.run_id, event.event_id, stored.stream,
                 stored.notices, extra={"alert": stored.name, "event_pk": stored.event_pk,
                                        "revision_pk": stored.revision_pk, "revision": 0})
        if stored.notices:
            self.on_queued()
        if stored.stream != "none":
            self.on_alert()
        return Accepted(True, row, stored, sel)

    def _select(self, event: Event) -> Selection:
        """The selection of ``event``, its first guess within the budget."""
        try:
            with first_guess_budget(self.first_guess_budget_s):
                return select_event(event, self._detector())
        except BudgetExceeded as exc:
            raise WorkBudgetExceeded(
                f"first guess of this event exceeded its budget of "
                f"{self.first_guess_budget_s:g} s ({event.n_pulses} pulses); refused",
                details={"budget_s": self.first_guess_budget_s,
                         "n_pulses": event.n_pulses}) from exc

    def _store(self, body: dict[str, Any], event: Event, sel: Selection,
               ) -> tuple[int, StoredRevision]:
        """The one transaction of a new raw event; (raw event pk, its revision 0)."""
        with catalog_tx(self.engine) as tx:
            (rev,) = self.publisher.store_revisions(tx, [initial_record(event, sel)])
            self.publisher.mint_dois(tx, [rev])
            raw_pk = tx.raw_events.insert(body, event_pk=rev.event_pk, stream=sel.stream,
                                          selection=sel.to_json())
            if raw_pk is None:  # a concurrent request stored it first: undo ours
                raise _Duplicate
            (rev,) = self.publisher.queue_notices(tx, [rev])
            if rev.stream != "none" and self.realtime_scan is not None:
                # The refining scan is queued with the alert: both or neither are stored.
                tx.scans.create(raw_pk, priority="realtime",
                                config=self.realtime_scan.to_json(), publish="update")
        return raw_pk, rev


class _Duplicate(Exception):
    """The raw event was stored by a concurrent request during ours."""
