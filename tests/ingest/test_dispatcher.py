"""Delivery: folder and signed webhook sinks, retries with backoff, crash safety."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from catalog.publish import Publisher
from catalog.schema.outbox import notice_attempts
from catalog.storage.events import CatalogStorage
from catalog.storage.outbox import OutboxStorage
from ingest.dispatcher import Dispatcher, DispatcherConfig
from ingest.sinks.folder import FolderSink
from ingest.sinks.webhook import WebhookSink
from tests.ingest.helpers import SECRET, Receiver, publish_config, publishing, reco_record

FAST = DispatcherConfig(poll_s=0.05, batch=50, lease_s=30.0, backoff_base_s=0.05,
                        backoff_max_s=0.2)


def _outbox(storage: CatalogStorage) -> tuple[Publisher, OutboxStorage]:
    return publishing(storage, publish_config(("folder", ("gcn-json", "voevent")),
                                                 ("webhook", ("gcn-json",))))


def _sinks(tmp_path: Path, receiver: Receiver) -> list[FolderSink | WebhookSink]:
    return [FolderSink(tmp_path / "out", formats=("gcn-json", "voevent")),
            WebhookSink(receiver.url, SECRET, timeout_s=2.0)]


def _until(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_folder_and_webhook_receive_each_notice_once(storage: CatalogStorage, tmp_path: Path,
                                                     receiver: Receiver) -> None:
    publisher, outbox = _outbox(storage)
    stored = publisher.publish([reco_record()])[0]
    d = Dispatcher(outbox, _sinks(tmp_path, receiver), FAST)
    outcomes = d.drain(10)
    assert sorted((o.sink, o.ok, o.attempt) for o in outcomes) == [
        ("folder", True, 1), ("folder", True, 1), ("webhook", True, 1)]
    rows = outbox.notices_of(revision_pk=stored.revision_pk)
    assert all(n.status == "delivered" for n in rows)
    for n in rows:
        if n.sink == "folder":
            assert (tmp_path / "out" / n.format / n.filename).read_bytes() == n.payload
        else:
            assert receiver.received.first_bodies[n.idempotency_key] == n.payload
    assert receiver.received.bad_signatures == 0
    assert d.drain(1) == []  # nothing left


def test_wrong_secret_is_refused_and_retried(storage: CatalogStorage, tmp_path: Path,
                                             receiver: Receiver) -> None:
    publisher, outbox = _outbox(storage)
    publisher.publish([reco_record()])
    d = Dispatcher(outbox, [WebhookSink(receiver.url, b"not-the-secret")], FAST)
    (outcome,) = d.run_once()
    assert not outcome.ok and "401" in outcome.detail
    assert receiver.received.bad_signatures == 1 and not receiver.received.requests


def test_receiver_down_then_back_gets_every_notice_exactly_once(
        storage: CatalogStorage, engine: Engine, tmp_path: Path, receiver: Receiver) -> None:
    publisher, outbox = publishing(storage, publish_config(("webhook", ("gcn-json", "voevent"))))
    for event in range(5):
        publisher.publish([reco_record(event=1000 + event)])
    receiver.stop()  # down: connections refused
    d = Dispatcher(outbox, [WebhookSink(receiver.url, SECRET, timeout_s=1.0)], FAST)
    d.start()
    try:
        with engine.connect() as conn:
            _until(lambda: conn.execute(
                select(func.count()).select_from(notice_attempts)
                .where(notice_attempts.c.number >= 2)).scalar_one() >= 10)
        receiver.fail_next = 3  # back, but answering 503 a few times first
        receiver.start()
        _until(lambda: outbox.pending_count() == 0)
    finally:
        d.stop()
    keys = {n.idempotency_key for n in outbox.notices_of()}
    assert len(keys) == 10
    assert set(receiver.received.requests) == keys
    assert all(count == 1 for count in receiver.received.requests.values())
    for n in outbox.notices_of():
        attempts = outbox.attempts_of(n.id)
        assert attempts[-1].ok and not any(a.ok for a in attempts[:-1])
        assert [a.number for a in attempts] == list(range(1, len(attempts) + 1))
        assert len(attempts) >= 3  # at least two refused attempts before the success


def test_backoff_grows_exponentially_and_is_capped() -> None:
    cfg = DispatcherConfig(backoff_base_s=1.0, backoff_max_s=30.0)
    assert [cfg.backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def _child(db_url: str, mode: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run([sys.executable, "-m", "tests.ingest.crash_worker", db_url, mode],
                          capture_output=True, text=True, timeout=120, env=env,
                          cwd=Path(__file__).parents[2])


def test_killed_after_commit_notices_are_delivered_after_restart(
        db_url: str, storage: CatalogStorage, tmp_path: Path, receiver: Receiver) -> None:
    proc = _child(db_url, "after-commit")
    assert proc.returncode == -9, proc.stderr
    _publisher, outbox = _outbox(storage)  # the "restarted" service: a new engine, a new dispatcher
    assert outbox.pending_count() == 3
    Dispatcher(outbox, _sinks(tmp_path, receiver), FAST).drain(10)
    assert outbox.pending_count() == 0
    assert len(receiver.received.requests) == 1
    assert len(list((tmp_path / "out").rglob("*.*"))) == 2


def test_killed_mid_send_notices_are_sent_once_the_claim_lapses(
        db_url: str, storage: CatalogStorage, tmp_path: Path, receiver: Receiver) -> None:
    proc = _child(db_url, "mid-send")
    assert proc.returncode == -9 and proc.stdout.strip() == "3", proc.stderr
    _publisher, outbox = _outbox(storage)
    d = Dispatcher(outbox, _sinks(tmp_path, receiver), FAST)
    assert d.run_once() == []  # still claimed by the dead process
    d.start()
    try:
        _until(lambda: outbox.pending_count() == 0, timeout_s=15)
    finally:
        d.stop()
    assert list(receiver.received.requests.values()) == [1]
