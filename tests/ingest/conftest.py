"""Fixtures shared by the ingest tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ingest.helpers import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real webhook receiver on loopback, stopped after the test."""
    r = Receiver()
    r.start()
    yield r
    r.stop()
