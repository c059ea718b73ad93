"""Helpers of the AMQP tests: the local RabbitMQ (guest/guest), one queue pair per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pika

from ingest.consumer import ConsumerConfig, declare

#: The local broker the tests use (override with NUFAIR_TEST_AMQP_URL).
AMQP_URL = os.environ.get("NUFAIR_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


@dataclass(frozen=True)
class Dead:
    """A message taken from the dead-letter queue."""

    body: bytes
    headers: dict[str, Any]


def params() -> pika.URLParameters:
    return pika.URLParameters(AMQP_URL)


@contextmanager
def queues() -> Iterator[ConsumerConfig]:
    """A unique raw-event queue and its dead-letter queue, deleted afterwards."""
    config = ConsumerConfig(queue=f"nufair-test-{uuid.uuid4().hex[:12]}",
                            requeue_delay_s=0.01)
    with pika.BlockingConnection(params()) as conn:
        declare(conn.channel(), config)
    try:
        yield config
    finally:
        with pika.BlockingConnection(params()) as conn:
            ch = conn.channel()
            ch.queue_delete(config.queue)
            ch.queue_delete(config.dead_letters)


def publish(queue: str, *bodies: bytes, content_type: str = "application/json") -> None:
    with pika.BlockingConnection(params()) as conn:
        ch = conn.channel()
        ch.confirm_delivery()
        for body in bodies:
            ch.basic_publish("", queue, body, pika.BasicProperties(
                content_type=content_type, delivery_mode=pika.DeliveryMode.Persistent),
                mandatory=True)


def depth(queue: str) -> int:
    """Ready messages in ``queue`` (unacknowledged ones are not counted)."""
    with pika.BlockingConnection(params()) as conn:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)


def take_all(queue: str) -> list[Dead]:
    out: list[Dead] = []
    with pika.BlockingConnection(params()) as conn:
        ch = conn.channel()
        while True:
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append(Dead(body, dict(props.headers or {})))
