"""Issue 16, done-when: ordered delivery after a staged outage of each sink, with the real
parts — raw events in through the local RabbitMQ, a real webhook receiver and a real Comet
broker out — exactly one delivery per (revision, sink), and replay to a sink added later.

The outage is scaled down here through the dispatcher's backoff settings
(``NUFAIR_DISPATCHER_BACKOFF_BASE_S`` / ``_MAX_S``: 0.05 s doubling up to 1 s, instead of
1 s up to 300 s; ``_MAX_ATTEMPTS`` 0: never given up), so that it runs in every quick test
pass; ``test_outage_five_minutes.py`` stages the real thing (both sinks down for 300 s of
wall time, a realistic backoff). While both sinks are down (the receiver's socket closed,
the broker process stopped), the 20 alerts come in through RabbitMQ, every initial notice
is refused at least ``PILED`` times and sits in backoff, and then the alerts' updates are
stored; the sinks stay down a while longer and come back. That is the situation of the
issue (initials deep in backoff, updates fresh), only faster. The updates are stored as a
finished scan stores them (source ``reco``, kind ``update``, through the publisher), not by
running 40 scans: the scans are not what is tested here.

Arrival order is read where each sink sees it (:mod:`tests.ingest.outage_helpers`).
"""

from __future__ import annotations

from collections import Counter

from fastapi.testclient import TestClient

from catalog.storage.events import CatalogStorage
from ingest.consumer import ConsumerConfig
from nufair.app import create_app
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
    refused,
    until,
    vtp_turn,
    webhook_arrivals,
)

ALERTS = 20
UPDATES = 2  # revisions 1 and 2 after each initial
PILED = 3  # refused attempts of every initial before the updates come
REPLAYED = 6  # alerts of the replay test
#: The scaled-down backoff (see the module docstring).
FAST_BACKOFF = {"dispatcher_poll_s": 0.05, "dispatcher_backoff_base_s": 0.05,
                "dispatcher_backoff_max_s": 1.0, "dispatcher_max_attempts": 0}


def _settings(base: Settings, receiver: Receiver, broker: CometBroker,
              sinks: list[str]) -> Settings:
    return outage_settings(base, receiver, broker, sinks, **FAST_BACKOFF)


def _ids(n: int) -> list[int]:
    return [FIRST_ID + i for i in range(n)]


def test_after_an_outage_of_both_sinks_every_alert_arrives_in_order_once(
        storage: CatalogStorage, settings: Settings, receiver: Receiver,
        broker: CometBroker, amqp: ConsumerConfig) -> None:
    ctx = make_context(storage, _settings(settings, receiver, broker, ["webhook", "vtp"]))
    receiver.stop()
    broker.stop()  # both sinks down: connections refused
    ctx.dispatcher.start()
    try:
        ids = ingest_through_rabbitmq(amqp, ctx, _ids(ALERTS))
        until(lambda: refused(storage.engine) >= 2 * ALERTS * PILED, what="initials piled up")
        for number in range(1, UPDATES + 1):
            for i in ids:
                publish_update(ctx, storage, i, number)
        so_far = refused(storage.engine)
        until(lambda: refused(storage.engine) >= so_far + 2 * ALERTS, what="still down")
        broker.start()
        receiver.start()
        until(lambda: ctx.outbox.pending_count() == 0, what="all delivered")
    finally:
        ctx.dispatcher.stop()
    revisions = UPDATES + 1
    hooks = webhook_arrivals(receiver)
    assert_each_alert_in_order(hooks, ids, revisions)
    assert set(receiver.received.requests.values()) == {1}  # one request per notice
    ivorns = broker_arrivals(broker)
    assert len(ivorns) == len(set(ivorns)) == ALERTS * revisions  # each sent once
    assert_each_alert_in_order([vtp_turn(v) for v in ivorns], ids, revisions)
    notices = ctx.outbox.notices_of()
    assert len(notices) == 2 * ALERTS * revisions
    assert {n.status for n in notices} == {"delivered"}
    attempts = Counter(len(ctx.outbox.attempts_of(n.id)) > 1 for n in notices)
    # Only the initials were tried during the outage; the updates waited their turn.
    assert attempts == {True: 2 * ALERTS, False: 2 * ALERTS * UPDATES}


def test_replay_to_a_sink_added_later_sends_the_history_in_order(
        storage: CatalogStorage, settings: Settings, receiver: Receiver,
        broker: CometBroker, amqp: ConsumerConfig, admin_headers: dict[str, str]) -> None:
    before = _settings(settings, receiver, broker, ["vtp"])
    ctx = make_context(storage, before)
    broker.stop()
    ctx.dispatcher.start()
    try:
        ids = ingest_through_rabbitmq(amqp, ctx, _ids(REPLAYED))
        until(lambda: refused(storage.engine) >= REPLAYED * PILED, what="initials piled up")
        for i in ids:
            publish_update(ctx, storage, i, 1)
        broker.start()
        until(lambda: ctx.outbox.pending_count() == 0, what="vtp delivered")
    finally:
        ctx.dispatcher.stop()
    sent_before = broker_arrivals(broker)
    assert_each_alert_in_order([vtp_turn(v) for v in sent_before], ids, 2)
    # The webhook sink is added today and asks for the whole history.
    after = before.model_copy(update={"sinks": ["vtp", "webhook"]})
    with TestClient(create_app(after.model_copy(update={"dispatcher_enabled": True}))) as c:
        r = c.post("/api/v1/notices/replay", json={"sink": "webhook"}, headers=admin_headers)
        assert r.status_code == 202, r.text
        assert r.json()["revisions"] == r.json()["rendered"] == 2 * REPLAYED
        until(lambda: len(receiver.received.requests) == 2 * REPLAYED, what="replayed")
        until(lambda: ctx.outbox.pending_count() == 0, what="replay delivered")
    assert_each_alert_in_order(webhook_arrivals(receiver), ids, 2)
    assert set(receiver.received.requests.values()) == {1}
    assert broker_arrivals(broker) == sent_before  # the broker was not sent anything again

