"""Fixtures shared by the ingest tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.consumer import ConsumerConfig
from tests.ingest.amqp import queues
from tests.ingest.comet import CometBroker
from tests.ingest.helpers import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real webhook receiver on loopback, stopped after the test."""
    r = Receiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[CometBroker]:
    """A real Comet VOEvent broker on loopback, stopped after the test."""
    b = CometBroker(tmp_path / "comet")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def amqp() -> Iterator[ConsumerConfig]:
    """A unique raw-event queue (and its dead-letter queue) on the local RabbitMQ."""
    with queues() as config:
        yield config
