"""The AMQP consumer against the real local RabbitMQ: raw events in, events and notices
stored, bad messages dead-lettered with a reason, redelivery after a crash absorbed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from catalog.storage.events import CatalogStorage, EventQuery
from ingest.consumer import (
    ERROR_CODE_HEADER,
    ERROR_HEADER,
    ConsumerConfig,
    Handled,
    RawEventConsumer,
)
from ingest.handlers.context import IngestContext
from ingest.pipeline import Accepted
from nufair.cli import main
from nufair.ingest import make_context
from nufair.settings import Settings
from tests.ingest.amqp import AMQP_URL, depth, params, publish, take_all
from tests.ingest.events import raw_body


@pytest.fixture
def runtime(storage: CatalogStorage, settings: Settings) -> IngestContext:
    return make_context(storage, settings)


def _consume(config: ConsumerConfig, accept: Any, n: int) -> list[Handled]:
    seen: list[Handled] = []
    RawEventConsumer(params(), accept, config).run(max_messages=n, idle_timeout_s=10,
                                                   on_handled=seen.append)
    return seen


def test_good_duplicate_and_bad_messages(amqp: ConsumerConfig, runtime: IngestContext,
                                         storage: CatalogStorage) -> None:
    good = json.dumps(raw_body()).encode()
    invalid = json.dumps({**raw_body(event_id=77), "run_id": "not a number"}).encode()
    publish(amqp.queue, good, good, b"{not json", invalid)
    publish(amqp.queue, good, content_type="text/plain")

    seen = _consume(amqp, runtime.pipeline.accept, 5)

    assert [h.outcome for h in seen] == ["stored", "duplicate", "dead-lettered",
                                         "dead-lettered", "dead-lettered"]
    (event,) = storage.list_events(EventQuery()).items
    assert event.stream == "gold" and event.revision_count == 1
    notices = runtime.outbox.notices_of(event_pk=event.id)
    assert sorted(n.format for n in notices) == ["circular", "gcn-json", "voevent"]
    assert {n.status for n in notices} == {"pending"}  # queued with the revision
    assert depth(amqp.queue) == 0

    dead = take_all(amqp.dead_letters)
    assert [d.body for d in dead] == [b"{not json", invalid, good]
    assert [d.headers[ERROR_CODE_HEADER] for d in dead] == [
        "invalid_input", "invalid_input", "unsupported_format"]
    assert "malformed JSON" in dead[0].headers[ERROR_HEADER]
    assert "run_id" in dead[1].headers[ERROR_HEADER]
    assert "text/plain" in dead[2].headers[ERROR_HEADER]


def test_transient_failure_is_requeued_once_then_dead_lettered(amqp: ConsumerConfig) -> None:
    calls: list[Any] = []

    def broken(body: Any) -> Accepted:
        calls.append(body)
        raise RuntimeError("database on fire")

    publish(amqp.queue, json.dumps(raw_body()).encode())
    seen = _consume(amqp, broken, 2)
    assert [(h.outcome, h.redelivered) for h in seen] == [("requeued", False),
                                                          ("dead-lettered", True)]
    assert len(calls) == 2 and depth(amqp.queue) == 0
    (dead,) = take_all(amqp.dead_letters)
    assert dead.headers[ERROR_CODE_HEADER] == "processing_failed"
    assert "database on fire" in dead.headers[ERROR_HEADER]


def test_consumer_killed_before_ack_is_redelivered_and_stored_once(
        amqp: ConsumerConfig, db_url: str, tmp_path: Path, runtime: IngestContext,
        storage: CatalogStorage) -> None:
    publish(amqp.queue, json.dumps(raw_body()).encode())
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    child = subprocess.run(
        [sys.executable, "-m", "tests.ingest.consumer_worker", db_url, str(tmp_path),
         amqp.queue], env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == -9, child.stderr
    assert "committed" in child.stdout
    (event,) = storage.list_events(EventQuery()).items  # committed before the crash
    assert depth(amqp.queue) == 1  # never acknowledged: back in the queue

    (again,) = _consume(amqp, runtime.pipeline.accept, 1)
    assert (again.outcome, again.redelivered) == ("duplicate", True)
    assert depth(amqp.queue) == 0 and take_all(amqp.dead_letters) == []
    (after,) = storage.list_events(EventQuery()).items
    assert after.id == event.id and after.revision_count == 1
    assert len(runtime.outbox.notices_of(event_pk=event.id)) == 3


def test_consume_command(amqp: ConsumerConfig, db_url: str, tmp_path: Path,
                         storage: CatalogStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(amqp.queue, json.dumps(raw_body()).encode(), b"[]")
    monkeypatch.setenv("NUFAIR_DATABASE_URL", db_url)
    monkeypatch.setenv("NUFAIR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NUFAIR_AMQP_URL", AMQP_URL)
    monkeypatch.setenv("NUFAIR_AMQP_QUEUE", amqp.queue)
    result = CliRunner().invoke(main, ["consume", "--max-messages", "2"])
    assert result.exit_code == 0, result.output
    assert "stored: " in result.output and "dead-lettered: [invalid_input]" in result.output
    assert "0 notice(s) pending" in result.output
    (event,) = storage.list_events(EventQuery()).items
    assert event.stream == "gold"
    assert len(list((tmp_path / "var" / "notices").rglob("*.*"))) == 3
    assert len(take_all(amqp.dead_letters)) == 1
