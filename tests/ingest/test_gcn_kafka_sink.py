"""The GCN Kafka sink: configuration, message building, delivery reports and retries.

No GCN (or other Kafka) broker is reachable from the test machine, so delivery is tested
(1) with a stand-in at the ``confluent_kafka.Producer`` boundary that reports success or
an error the way librdkafka does, and (2) with a real librdkafka producer whose broker is
absent (its delivery report times out). Delivery to a live broker is not tested here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer
from gcn_kafka.core import get_config
from pydantic import SecretStr

from catalog.publish import Publisher
from catalog.storage.events import CatalogStorage
from catalog.storage.outbox import OutboxStorage
from ingest.dispatcher import Dispatcher, DispatcherConfig
from ingest.sinks import DeliveryError
from ingest.sinks.gcn_kafka import (
    TOPICS,
    GcnKafkaSink,
    build_message,
    producer_arguments,
    producer_config,
)
from nufair.ingest import make_sinks
from nufair.settings import Settings
from tests.ingest.helpers import publish_config, publishing, reco_record
from tests.serving import free_port

FAST = DispatcherConfig(poll_s=0.05, batch=10, lease_s=30.0, backoff_base_s=0.0,
                        backoff_max_s=0.0)
TOPIC = "gcn.notices.icecube.test.gold_bronze_track_alerts"


@dataclass
class _Message:
    _topic: str
    _value: bytes

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 41

    def value(self) -> bytes:
        return self._value


@dataclass
class StandInProducer:
    """Records what is produced; on flush, reports each message as librdkafka would."""

    errors: list[KafkaError | None] = field(default_factory=list)
    produced: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    _waiting: list[tuple[Callable[[Any, Any], None], _Message]] = field(default_factory=list)

    def produce(self, topic: str, *, value: bytes, key: bytes,
                on_delivery: Callable[[Any, Any], None]) -> None:
        self.produced.append((topic, key, value))
        self._waiting.append((on_delivery, _Message(topic, value)))

    def poll(self, timeout: float = 0) -> int:
        return self.flush(timeout)

    def flush(self, timeout: float = 0) -> int:
        while self._waiting:
            callback, msg = self._waiting.pop(0)
            err = self.errors.pop(0) if self.errors else None
            callback(err, None if err else msg)
        return 0


def _outbox(storage: CatalogStorage) -> tuple[Publisher, OutboxStorage]:
    return publishing(storage, publish_config(("gcn-kafka", ("gcn-json",))))


def test_topic_names_follow_gcn() -> None:
    assert TOPICS["gold_bronze_track_alerts"] == "gcn.notices.icecube.gold_bronze_track_alerts"
    assert TOPICS["test.gold_bronze_track_alerts"] == TOPIC
    assert Settings().gcn_kafka_topics == {"gcn-json": TOPIC}


def test_producer_configuration_through_gcn_kafka() -> None:
    # gcn_kafka.Producer passes these through get_config; check what librdkafka receives.
    config = get_config("producer", **producer_arguments(  # type: ignore[no-untyped-call]
        "my-id", "my-secret", "test.gcn.nasa.gov", timeout_s=7.5))
    assert config["bootstrap.servers"] == "kafka.test.gcn.nasa.gov"
    assert config["security.protocol"] == "sasl_ssl"
    assert config["sasl.mechanisms"] == "OAUTHBEARER"
    assert config["sasl.oauthbearer.method"] == "oidc"
    assert config["sasl.oauthbearer.client.id"] == "my-id"
    assert config["sasl.oauthbearer.client.secret"] == "my-secret"
    assert config["sasl.oauthbearer.token.endpoint.url"] == (
        "https://auth.test.gcn.nasa.gov/oauth2/token")
    assert config["enable.idempotence"] is True and config["acks"] == "all"
    assert config["message.timeout.ms"] == 7500
    with pytest.raises(ValueError, match="client id and secret"):
        producer_arguments("", "", "gcn.nasa.gov", timeout_s=1)


def test_settings_make_a_gcn_kafka_sink_with_secret_credentials(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, sinks=["folder", "gcn-kafka"],
                        gcn_kafka_client_id="id", gcn_kafka_client_secret=SecretStr("s3cret"))
    assert "s3cret" not in repr(settings)
    _folder, kafka = make_sinks(settings)
    assert isinstance(kafka, GcnKafkaSink)
    assert (kafka.name, kafka.formats, kafka.topics) == ("gcn-kafka", ("gcn-json",),
                                                         {"gcn-json": TOPIC})
    with pytest.raises(ValueError, match="client id and secret"):
        make_sinks(Settings(data_dir=tmp_path, sinks=["gcn-kafka"]))


def test_message_is_the_stored_payload_on_its_topic(storage: CatalogStorage) -> None:
    publisher, outbox = _outbox(storage)
    publisher.publish([reco_record()])
    (notice,) = outbox.notices_of()
    message = build_message(notice, {"gcn-json": TOPIC})
    assert message.topic == TOPIC
    assert message.value == notice.payload
    assert message.key == notice.idempotency_key.encode()
    assert json.loads(message.value)["id"] == ["134191_17593623"]
    with pytest.raises(DeliveryError, match="no GCN Kafka topic configured for gcn-json"):
        build_message(notice, {"voevent": TOPIC})


def test_error_report_is_retried_until_acknowledged(storage: CatalogStorage) -> None:
    publisher, outbox = _outbox(storage)
    publisher.publish([reco_record()])
    producer = StandInProducer(errors=[KafkaError(KafkaError._MSG_TIMED_OUT)])
    dispatcher = Dispatcher(outbox, [GcnKafkaSink(producer, {"gcn-json": TOPIC})], FAST)
    (failed,) = dispatcher.run_once()
    assert not failed.ok and "GCN Kafka " + TOPIC in failed.detail
    assert outbox.pending_count() == 1
    (ok,) = dispatcher.run_once()
    assert ok.ok and ok.detail == f"GCN Kafka {TOPIC}[0]@41"
    (notice,) = outbox.notices_of()
    assert notice.status == "delivered"
    assert [a.ok for a in outbox.attempts_of(notice.id)] == [False, True]
    assert [p[2] for p in producer.produced] == [notice.payload, notice.payload]
    assert {p[0] for p in producer.produced} == {TOPIC}


def test_real_producer_without_a_broker_fails_the_attempt(storage: CatalogStorage) -> None:
    publisher, outbox = _outbox(storage)
    publisher.publish([reco_record()])
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{free_port()}",
                         "log_level": 0, **producer_config(timeout_s=1.0)})
    sink = GcnKafkaSink(producer, {"gcn-json": TOPIC}, timeout_s=1.0)
    (outcome,) = Dispatcher(outbox, [sink], FAST).run_once()
    assert not outcome.ok and "timed out" in outcome.detail.lower()
    assert outbox.pending_count() == 1
