"""Ordered delivery: a sink gets the revisions of an alert in order, after an outage too,
and with several dispatchers claiming at once (issue 16, item 1)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from catalog.schema.events import revisions
from catalog.schema.outbox import NoticeRead, notice_attempts, notices
from catalog.storage.events import CatalogStorage
from catalog.storage.outbox import OutboxStorage
from ingest.dispatcher import Dispatcher, DispatcherConfig, Outcome
from ingest.sinks import Receipt
from ingest.sinks.webhook import WebhookSink
from nufair.app import make_engine
from tests.ingest.helpers import SECRET, Receiver, publish_config, publishing, reco_record

ALERTS = 6
# Backoff long enough for the initials to sit in it while the updates are fresh.
SLOW_BACKOFF = DispatcherConfig(poll_s=0.05, batch=50, lease_s=30.0, backoff_base_s=0.05,
                                backoff_max_s=3.0)


def _until(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def _turns(engine: Engine) -> dict[str, tuple[int, int]]:
    """(event, revision number) of every queued notice, by idempotency key."""
    with engine.connect() as conn:
        rows = conn.execute(select(notices.c.idempotency_key, revisions.c.event_pk,
                                   revisions.c.number)
                            .join(revisions, revisions.c.id == notices.c.revision_pk))
        return {key: (event, number) for key, event, number in rows}


def _assert_in_order(engine: Engine, arrivals: list[str], revisions_per_alert: int) -> None:
    """Each alert's revisions arrived 0, 1, ... (one notice per revision: gcn-json only)."""
    turns = _turns(engine)
    assert sorted(arrivals) == sorted(turns)  # every notice arrived, none twice
    by_event: dict[int, list[int]] = {}
    for key in arrivals:
        event, number = turns[key]
        by_event.setdefault(event, []).append(number)
    assert len(by_event) == ALERTS
    assert all(seen == list(range(revisions_per_alert)) for seen in by_event.values()), by_event


def _failed_attempts(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(notice_attempts)
                                .where(~notice_attempts.c.ok)).scalar_one())


def test_after_an_outage_each_alert_arrives_initial_first(
        storage: CatalogStorage, engine: Engine, receiver: Receiver) -> None:
    publisher, outbox = publishing(storage, publish_config(("webhook", ("gcn-json",))))
    receiver.stop()  # the sink is down while the alerts come in
    d = Dispatcher(outbox, [WebhookSink(receiver.url, SECRET, timeout_s=1.0)], SLOW_BACKOFF)
    d.start()
    try:
        for event in range(ALERTS):
            publisher.publish([reco_record(event=1000 + event)])
        # The initials go deep into backoff (>= 5 refused attempts each) ...
        _until(lambda: _failed_attempts(engine) >= 5 * ALERTS)
        # ... then the updates come, fresh, and the sink comes back at once.
        for event in range(ALERTS):
            publisher.publish([reco_record(event=1000 + event, number=1, ra=143.0)])
        receiver.start()
        _until(lambda: outbox.pending_count() == 0)
    finally:
        d.stop()
    assert all(count == 1 for count in receiver.received.requests.values())
    _assert_in_order(engine, list(receiver.received.first_bodies), revisions_per_alert=2)
    turns = _turns(engine)
    rows = outbox.notices_of()
    initials = {turns[n.idempotency_key][0]: n for n in rows
                if turns[n.idempotency_key][1] == 0}
    for later in (n for n in rows if turns[n.idempotency_key][1] == 1):
        # The update waited its turn without being tried, then went right after.
        assert later.attempt_count == 1, later
        initial = initials[turns[later.idempotency_key][0]]
        assert initial.attempt_count >= 5
        assert later.delivered_at is not None and initial.delivered_at is not None
        assert (later.delivered_at - initial.delivered_at).total_seconds() < 1.0


class _SlowSink:
    """A webhook sink slow on some notices (the initials), so that two dispatchers overlap
    and a dispatcher free to take an update would send it while the initial is in flight."""

    def __init__(self, inner: WebhookSink, slow: set[int]) -> None:
        self.inner = inner
        self.name = inner.name
        self.formats = inner.formats
        self.slow = slow

    def deliver(self, notice: NoticeRead) -> Receipt:
        time.sleep(0.15 if notice.id in self.slow else 0.005)
        return self.inner.deliver(notice)

    def close(self) -> None:
        self.inner.close()


def _work(d: Dispatcher, done: threading.Event, out: list[Outcome]) -> None:
    while not done.is_set():
        batch = d.run_once()
        out.extend(batch)
        if not batch:
            time.sleep(0.01)


def test_two_dispatchers_claiming_at_once_keep_each_alert_in_order(
        storage: CatalogStorage, db_url: str, engine: Engine, receiver: Receiver) -> None:
    publisher, outbox = publishing(storage, publish_config(("webhook", ("gcn-json",))))
    for number in range(3):
        for event in range(ALERTS):
            publisher.publish([reco_record(event=1000 + event, number=number,
                                           ra=142.0 + number)])
    turns = _turns(engine)
    initials = {n.id for n in outbox.notices_of() if turns[n.idempotency_key][1] == 0}
    engines = [make_engine(db_url) for _ in range(2)]  # each its own, as two processes
    config = DispatcherConfig(poll_s=0.01, batch=4, lease_s=30.0)
    dispatchers = [Dispatcher(OutboxStorage(e), [_SlowSink(
        WebhookSink(receiver.url, SECRET, timeout_s=2.0), initials)], config) for e in engines]
    outcomes: list[list[Outcome]] = [[], []]
    done = threading.Event()
    threads = [threading.Thread(target=_work, args=(d, done, out))
               for d, out in zip(dispatchers, outcomes, strict=True)]
    for t in threads:
        t.start()
    try:
        _until(lambda: outbox.pending_count() == 0)
    finally:
        done.set()
        for t in threads:
            t.join(10)
        for d in dispatchers:
            d.stop()
        for e in engines:
            e.dispose()
    assert all(outs for outs in outcomes)  # both took part
    assert all(o.ok and o.attempt == 1 for outs in outcomes for o in outs)
    assert sum(len(outs) for outs in outcomes) == 3 * ALERTS
    assert all(count == 1 for count in receiver.received.requests.values())
    _assert_in_order(engine, list(receiver.received.first_bodies), revisions_per_alert=3)


def test_a_claim_takes_a_later_revision_only_once_the_earlier_is_delivered(
        storage: CatalogStorage, engine: Engine) -> None:
    publisher, outbox = publishing(storage, publish_config(("folder", ("gcn-json", "voevent")),
                                                           ("webhook", ("gcn-json",))))
    publisher.publish([reco_record()])
    publisher.publish([reco_record(number=1, ra=143.0)])
    turns = _turns(engine)

    def claim() -> list[tuple[str, int, str]]:
        return sorted((n.sink, turns[n.idempotency_key][1], n.format)
                      for n in outbox.claim_due(["folder", "webhook"], 50, 30.0))

    # Revision 0 only, to each sink, every format of it at once.
    assert claim() == [("folder", 0, "gcn-json"), ("folder", 0, "voevent"),
                       ("webhook", 0, "gcn-json")]
    assert claim() == []  # claimed (leased) notices of revision 0 still hold revision 1 back
    now = outbox.database_now()
    initial = {(n.sink, n.format): n for n in outbox.notices_of() if
               turns[n.idempotency_key][1] == 0}
    # The webhook's notice fails (back in 1 h); the folder's deliver, one format first.
    outbox.record_attempt(initial["webhook", "gcn-json"].id, started_at=now, finished_at=now,
                          ok=False, status_code=503, detail="down",
                          retry_at=now + timedelta(hours=1))
    outbox.record_attempt(initial["folder", "gcn-json"].id, started_at=now, finished_at=now,
                          ok=True, status_code=None, detail=None, retry_at=None)
    with engine.begin() as conn:  # the folder's voevent: its lease runs out, still pending
        conn.execute(update(notices).where(notices.c.id == initial["folder", "voevent"].id)
                     .values(next_attempt_at=func.now()))
    assert claim() == [("folder", 0, "voevent")]  # revision 1 waits for every format of 0
    outbox.record_attempt(initial["folder", "voevent"].id, started_at=now, finished_at=now,
                          ok=True, status_code=None, detail=None, retry_at=None)
    # The folder's revision 1 goes; the webhook's waits for its revision 0, untried.
    assert claim() == [("folder", 1, "gcn-json"), ("folder", 1, "voevent")]
    waiting = [n for n in outbox.notices_of() if n.sink == "webhook" and n.status == "pending"]
    assert sorted(n.attempt_count for n in waiting) == [0, 1]
