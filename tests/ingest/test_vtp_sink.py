"""The VTP sink against a real Comet broker: notices pass the broker's checks and reach a
subscriber byte for byte; refusals and an absent broker are failed, retried attempts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import voeventparse

from catalog.publish import Publisher
from catalog.schema.outbox import NoticeRead
from catalog.storage.events import CatalogStorage
from catalog.storage.outbox import OutboxStorage
from ingest.dispatcher import Dispatcher, DispatcherConfig
from ingest.sinks import DeliveryError
from ingest.sinks.vtp import VTPSink, frame, voevent_ivorn
from tests.ingest.comet import CometBroker, Subscriber
from tests.ingest.helpers import IVORN_BASE, publish_config, publishing, reco_record

FAST = DispatcherConfig(poll_s=0.05, batch=10, lease_s=30.0, backoff_base_s=0.0,
                        backoff_max_s=0.0)


@pytest.fixture
def subscriber(broker: CometBroker) -> Iterator[Subscriber]:
    s = Subscriber(broker.broadcast_port)
    yield s
    s.close()


def _vtp_outbox(storage: CatalogStorage) -> tuple[Publisher, OutboxStorage]:
    return publishing(storage, publish_config(("vtp", ("voevent",))))


def test_frame_is_big_endian_length_then_payload() -> None:
    assert frame(b"<x/>") == b"\x00\x00\x00\x04<x/>"
    assert frame(b"a" * 258)[:4] == bytes([0, 0, 1, 2])


def test_notice_goes_through_comet_to_a_subscriber_intact(
        storage: CatalogStorage, broker: CometBroker, subscriber: Subscriber) -> None:
    publisher, outbox = _vtp_outbox(storage)
    stored = publisher.publish([reco_record()])[0]
    sink = VTPSink("127.0.0.1", broker.receive_port, timeout_s=5.0)
    (outcome,) = Dispatcher(outbox, [sink], FAST).run_once()
    assert outcome.ok, outcome.detail
    assert outcome.detail == "VTP ack from ivo://nufair.test/broker"
    (notice,) = outbox.notices_of(revision_pk=stored.revision_pk)
    assert notice.status == "delivered"

    received = subscriber.next_event()
    assert received == notice.payload  # the broker relays the bytes it accepted
    event = voeventparse.loads(received)
    assert event.attrib["ivorn"] == voevent_ivorn(notice.payload)
    assert event.attrib["ivorn"] == (IVORN_BASE + "#ICECUBE_GOLD_Event2020-06-15T14:49:17.37"
                                     "_24_134191_017593623_0")
    assert voeventparse.valid_as_v2_0(event)


def test_repeat_of_an_acknowledged_notice_counts_as_delivered(
        storage: CatalogStorage, broker: CometBroker) -> None:
    publisher, outbox = _vtp_outbox(storage)
    publisher.publish([reco_record()])
    (notice,) = outbox.notices_of()
    sink = VTPSink("127.0.0.1", broker.receive_port, timeout_s=5.0)
    first = sink.deliver(notice)
    again = sink.deliver(notice)  # as after a lost ack: Comet naks a known IVORN
    assert first.detail.startswith("VTP ack")
    assert again.detail.startswith("VTP nak") and "Previously seen" in again.detail


def test_nak_is_a_failed_delivery(broker: CometBroker) -> None:
    good = NoticeRead(
        id=1, revision_pk=1, sink="vtp", format="voevent", idempotency_key="k",
        media_type="application/xml", filename="x.xml", payload=b"", status="pending",
        attempt_count=0, next_attempt_at=datetime.now(UTC), delivered_at=None,
        created_at=datetime.now(UTC))
    # Valid XML, but not a VOEvent 2.0 document: Comet's schema check refuses it.
    bad = good.model_copy(update={
        "payload": b'<?xml version="1.0"?><VOEvent ivorn="ivo://nufair.test/'
                   b'IceCube#bad" role="test" version="2.0"/>'})
    sink = VTPSink("127.0.0.1", broker.receive_port, timeout_s=5.0)
    with pytest.raises(DeliveryError, match=re.escape(
            "VTP nak from ivo://nufair.test/broker: Event rejected")):
        sink.deliver(bad)


def test_broker_down_then_back_is_retried_until_delivered(
        storage: CatalogStorage, broker: CometBroker, subscriber: Subscriber) -> None:
    publisher, outbox = _vtp_outbox(storage)
    stored = publisher.publish([reco_record()])[0]
    dispatcher = Dispatcher(outbox, [VTPSink("127.0.0.1", broker.receive_port,
                                             timeout_s=2.0)], FAST)
    subscriber.close()
    broker.stop()
    (down,) = dispatcher.run_once()
    assert not down.ok and "ConnectionRefusedError" in down.detail
    assert outbox.pending_count() == 1

    broker.start()
    again = Subscriber(broker.broadcast_port)
    try:
        (up,) = dispatcher.run_once()
        assert up.ok and up.attempt == 2
        (notice,) = outbox.notices_of(revision_pk=stored.revision_pk)
        assert again.next_event() == notice.payload
    finally:
        again.close()
    assert [a.ok for a in outbox.attempts_of(notice.id)] == [False, True]


def test_settings_make_a_vtp_sink(tmp_path: Path) -> None:
    from nufair.ingest import make_sinks
    from nufair.settings import Settings

    (sink,) = make_sinks(Settings(data_dir=tmp_path, sinks=["vtp"], vtp_host="broker.test",
                                  vtp_port=8098, vtp_timeout_s=3.0))
    assert isinstance(sink, VTPSink)
    assert (sink.name, sink.formats, sink.host, sink.port, sink.timeout_s) == (
        "vtp", ("voevent",), "broker.test", 8098, 3.0)
