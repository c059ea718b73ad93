"""The GCN Kafka sink: notices produced to NASA GCN's Kafka through ``gcn-kafka``.

GCN names its topics ``gcn.notices.<mission>.<stream>``; IceCube's single-neutrino JSON
alerts (schema ``gcn/notices/icecube/single_neutrino_alerts``) go to
``gcn.notices.icecube.gold_bronze_track_alerts`` and IceCube's LVK follow-up to
``gcn.notices.icecube.lvk_nu_track_search``; the same names under ``.test.`` are the
producer's rehearsal topics (:data:`TOPICS`). The topic of each notice format is
configured; GCN accepts JSON from new producers, so the default routes ``gcn-json`` only.

Each notice is one Kafka message: the value is the stored notice payload, byte for byte;
the key is the notice's idempotency key, so a consumer can drop a repeat. A delivery counts
once the broker has acknowledged the message (the producer's delivery report); a message
not acknowledged within ``timeout_s`` (``message.timeout.ms``) is a failed attempt and the
dispatcher retries it. The producer is created by :func:`make_producer` (client id and
secret from GCN's console, OIDC) or passed in (tests, other Kafka clusters).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from catalog.schema.outbox import NoticeRead
from ingest.sinks import DeliveryError, Receipt

#: GCN's Kafka topics for IceCube's JSON notices (production, and the producer test topics).
TOPICS = {
    "gold_bronze_track_alerts": "gcn.notices.icecube.gold_bronze_track_alerts",
    "lvk_nu_track_search": "gcn.notices.icecube.lvk_nu_track_search",
    "test.gold_bronze_track_alerts": "gcn.notices.icecube.test.gold_bronze_track_alerts",
    "test.lvk_nu_track_search": "gcn.notices.icecube.test.lvk_nu_track_search",
}

#: The GCN Kafka deployments ``gcn-kafka`` knows.
Domain = Literal["gcn.nasa.gov", "test.gcn.nasa.gov", "dev.gcn.nasa.gov"]


class KafkaProducer(Protocol):
    """The part of ``confluent_kafka.Producer`` the sink uses."""

    def produce(self, topic: str, *, value: bytes, key: bytes,
                on_delivery: Callable[[Any, Any], None]) -> None:
        """Queue one message; ``on_delivery`` gets (error, message) once it is settled."""

    def poll(self, timeout: float = ...) -> int:
        """Serve delivery reports for up to ``timeout`` seconds; returns how many were served."""

    def flush(self, timeout: float = ...) -> int:
        """Wait up to ``timeout`` seconds for queued messages; returns how many are left."""


@dataclass(frozen=True, slots=True)
class KafkaMessage:
    """One message as it is produced."""

    topic: str
    key: bytes
    value: bytes


def build_message(notice: NoticeRead, topics: Mapping[str, str]) -> KafkaMessage:
    """The Kafka message of ``notice``: its topic by format, its key and exact payload."""
    try:
        topic = topics[notice.format]
    except KeyError:
        raise DeliveryError(f"no GCN Kafka topic configured for {notice.format}") from None
    return KafkaMessage(topic=topic, key=notice.idempotency_key.encode(),
                        value=notice.payload)


def producer_config(*, timeout_s: float, extra: Mapping[str, Any] | None = None,
                    ) -> dict[str, Any]:
    """librdkafka settings of our producer: idempotent, bounded delivery time."""
    return {
        "enable.idempotence": True,  # the broker drops the producer's own retries
        "acks": "all",
        "message.timeout.ms": int(timeout_s * 1000),
        **(extra or {}),
    }


def producer_arguments(client_id: str, client_secret: str, domain: Domain, *,
                       timeout_s: float) -> dict[str, Any]:
    """Keyword arguments of ``gcn_kafka.Producer`` (which turns them into librdkafka's
    SASL/OIDC settings for ``kafka.<domain>``)."""
    if not client_id or not client_secret:
        raise ValueError("GCN Kafka needs a client id and secret (gcn.nasa.gov console)")
    return {"config": producer_config(timeout_s=timeout_s), "client_id": client_id,
            "client_secret": client_secret, "domain": domain}


def make_producer(client_id: str, client_secret: str, domain: Domain, *, timeout_s: float,
                  ) -> KafkaProducer:
    """A ``gcn_kafka.Producer`` for GCN (OIDC client credentials) at ``domain``."""
    from gcn_kafka import Producer

    producer: KafkaProducer = Producer(**producer_arguments(
        client_id, client_secret, domain, timeout_s=timeout_s))
    return producer


class GcnKafkaSink:
    """Produce notices to GCN Kafka topics (one per format)."""

    def __init__(self, producer: KafkaProducer, topics: Mapping[str, str], *,
                 timeout_s: float = 10.0, name: str = "gcn-kafka") -> None:
        if not topics:
            raise ValueError("the GCN Kafka sink needs at least one topic")
        self.producer = producer
        self.topics = dict(topics)
        self.timeout_s = timeout_s
        self.name = name
        self.formats: tuple[str, ...] = tuple(self.topics)

    def deliver(self, notice: NoticeRead) -> Receipt:
        """Produce the notice and wait for the broker's delivery report; no report, or an error
        report, is a :class:`DeliveryError`."""
        message = build_message(notice, self.topics)
        reports: list[tuple[Any, Any]] = []
        try:
            self.producer.produce(message.topic, value=message.value, key=message.key,
                                  on_delivery=lambda err, msg: reports.append((err, msg)))
        except (BufferError, ValueError) as exc:  # local queue full, message too large
            raise DeliveryError(f"GCN Kafka refused the message: {exc}") from exc
        except Exception as exc:  # confluent_kafka.KafkaException
            raise DeliveryError(f"GCN Kafka: {type(exc).__name__}: {exc}") from exc
        # message.timeout.ms bounds the delivery: by then a report (success or error) comes.
        self.producer.flush(self.timeout_s + 5.0)
        if not reports:
            raise DeliveryError(f"no delivery report from GCN Kafka within "
                                f"{self.timeout_s + 5.0:.0f} s")
        err, msg = reports[0]
        if err is not None:
            raise DeliveryError(f"GCN Kafka {message.topic}: {err}")
        where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}" if msg is not None \
            else message.topic
        return Receipt(detail=f"GCN Kafka {where}")

    def close(self) -> None:
        """Flush the messages still queued (up to ``timeout_s``)."""
        self.producer.flush(self.timeout_s)
