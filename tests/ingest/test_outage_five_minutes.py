"""Issue 16, done-when: "ordered delivery after a staged 5-minute outage of each sink with
≥ 20 alerts and their updates", in real time (about 6 minutes; the quick, scaled-down
version is ``test_outage_order.py``).

The webhook receiver (its socket closed) and the Comet broker (its process stopped) are
both down for at least ``DOWN_S`` = 300 s of wall time. Meanwhile 20 alerts come in through
RabbitMQ in two waves, and each gets two updates (stored as a finished scan stores them,
through the publisher), on the ``SCHEDULE`` below: the first wave's initials have been
refused for minutes when the last updates come, the second wave's for less. The
dispatcher runs in this process with the operator's settings, not scaled ones:

* ``NUFAIR_DISPATCHER_BACKOFF_BASE_S=1`` (the default): a refused first try is tried again
  after 1 s, so a blip of the receiver costs about a second;
* ``NUFAIR_DISPATCHER_BACKOFF_MAX_S=30`` (the default is 300): the cap bounds how late the
  first notice goes out once a sink is back. Realtime follow-up wants minutes at most, so
  an operator of realtime sinks sets tens of seconds; with the default cap, a notice first
  refused at the start of a 5-minute outage would next be tried up to 300 s after the sink
  came back (and this test would take 10 minutes). Order and exactly-once do not depend on
  the cap: the claim's order condition does not look at the backoff;
* ``NUFAIR_DISPATCHER_MAX_ATTEMPTS=30`` (the default): with this backoff 30 attempts span
  about 13 minutes, so nothing is given up in a 5-minute outage (asserted: no ``failed``);
* ``NUFAIR_DISPATCHER_POLL_S=0.5`` (the default).

Then both sinks come back, and the test asserts what the sinks saw (the receiver's record
of requests, the broker's log): every alert's revisions 0, 1, 2 in order, each (revision,
sink) exactly once, and only the initials were tried during the outage (each update went
on its first attempt, after the revision before it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from catalog.storage.events import CatalogStorage
from ingest.consumer import ConsumerConfig
from ingest.handlers.context import IngestContext
from nufair.ingest import make_context
from nufair.settings import Settings
from tests.ingest.comet import CometBroker
from tests.ingest.helpers import Receiver
from tests.ingest.outage_helpers import (
    FIRST_ID,
    assert_each_alert_in_order,
    broker_arrivals,
    ingest_through_rabbitmq,
    outage_settings,
    publish_update,
    until,
    vtp_turn,
    webhook_arrivals,
)

#: Wall time both sinks stay down at least (seconds).
DOWN_S = 300.0
#: The operator's dispatcher settings (see the module docstring for why each value).
REAL_BACKOFF = {"dispatcher_poll_s": 0.5, "dispatcher_backoff_base_s": 1.0,
                "dispatcher_backoff_max_s": 30.0, "dispatcher_max_attempts": 30}
WAVE_A = [FIRST_ID + i for i in range(10)]
WAVE_B = [FIRST_ID + 10 + i for i in range(10)]
ALERTS = WAVE_A + WAVE_B
REVISIONS = 3  # the initial and two updates
#: What happens when, in seconds after both sinks went down: (offset, alerts, action) with
#: action ``"raw"`` (the alerts' raw events through RabbitMQ) or an update number. A step
#: starts at its offset, or when the one before it ends if that is later.
SCHEDULE: list[tuple[float, list[int], str | int]] = [
    (0.0, WAVE_A, "raw"), (60.0, WAVE_A, 1), (120.0, WAVE_B, "raw"),
    (180.0, WAVE_B, 1), (180.0, WAVE_A, 2), (240.0, WAVE_B, 2)]
#: Refused attempts every initial gathers at least: its 5th try comes 15 s after its first
#: (1 + 2 + 4 + 8), and the second wave's initials wait at least 120 s.
MIN_TRIES = 5


def _revision_of(filename: str) -> int:
    """The revision number in a notice's file name ``<obs>_<run>_<event>_<rev>.<ext>``."""
    return int(filename.rsplit(".", 1)[0].rsplit("_", 1)[1])


def _run_schedule(amqp: ConsumerConfig, ctx: IngestContext, storage: CatalogStorage,
                  down_at: float) -> None:
    for offset, alerts, action in SCHEDULE:
        time.sleep(max(0.0, down_at + offset - time.monotonic()))
        if action == "raw":
            ingest_through_rabbitmq(amqp, ctx, alerts)
        else:
            for i in alerts:
                publish_update(ctx, storage, i, int(action))


def _restart_after(down_at: float, *starts: Callable[[], None]) -> float:
    """Wait until the sinks have been down ``DOWN_S``, start them; the time they were down."""
    time.sleep(max(0.0, down_at + DOWN_S - time.monotonic()))
    for start in starts:
        start()
    return time.monotonic() - down_at


@pytest.mark.slow
def test_five_minutes_down_then_every_alert_arrives_in_order_once(
        storage: CatalogStorage, settings: Settings, receiver: Receiver,
        broker: CometBroker, amqp: ConsumerConfig) -> None:
    ctx = make_context(storage, outage_settings(settings, receiver, broker,
                                                ["webhook", "vtp"], **REAL_BACKOFF))
    receiver.stop()
    broker.stop()  # both sinks down: connections refused
    down_at = time.monotonic()
    ctx.dispatcher.start()
    try:
        _run_schedule(amqp, ctx, storage, down_at)
        stored_by = time.monotonic() - down_at  # every alert and update stored by then
        # Nothing got through while down (the sinks are really unreachable).
        assert {n.status for n in ctx.outbox.notices_of()} == {"pending"}
        down_for = _restart_after(down_at, broker.start, receiver.start)
        until(lambda: ctx.outbox.pending_count() == 0, timeout_s=240, what="all delivered")
        recovered_in = time.monotonic() - down_at - down_for
    finally:
        ctx.dispatcher.stop()
    assert down_for >= DOWN_S and stored_by < down_for
    hooks = webhook_arrivals(receiver)
    assert_each_alert_in_order(hooks, ALERTS, REVISIONS)
    assert set(receiver.received.requests.values()) == {1}  # one request per notice
    ivorns = broker_arrivals(broker)
    assert len(ivorns) == len(set(ivorns)) == len(ALERTS) * REVISIONS  # each sent once
    assert_each_alert_in_order([vtp_turn(v) for v in ivorns], ALERTS, REVISIONS)
    notices = ctx.outbox.notices_of()
    assert len(notices) == 2 * len(ALERTS) * REVISIONS
    assert {n.status for n in notices} == {"delivered"}  # none given up
    tries = {n.id: len(ctx.outbox.attempts_of(n.id)) for n in notices}
    initials = {n.id for n in notices if _revision_of(n.filename) == 0}
    assert len(initials) == 2 * len(ALERTS)
    # The initials sat in backoff the whole outage; the updates waited their turn untried.
    assert min(tries[i] for i in initials) >= MIN_TRIES
    assert Counter(t for pk, t in tries.items() if pk not in initials) == {
        1: 2 * len(ALERTS) * (REVISIONS - 1)}
    print(f"down {down_for:.1f} s (all stored by {stored_by:.1f} s), delivered "
          f"{recovered_in:.1f} s after the sinks came back; attempts per initial "
          f"{min(tries[i] for i in initials)}..{max(tries[i] for i in initials)}")
