"""Pieces of the outage tests (issue 16): both sinks down, alerts in through RabbitMQ, their
updates stored, and the arrival order read where each sink sees it.

Arrival order is read from the sinks, not from the outbox: the webhook receiver's own record
of requests, and the Comet broker's log line ``VOEvent <ivorn> received`` (one per event it
is sent; a repeat of a known IVORN would be logged again and refused as seen before).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from catalog.notices.parsed import ErrorRegion, NoticeRecord, RevisionKind, Source, Stream
from catalog.schema.outbox import notice_attempts
from catalog.storage.events import CatalogStorage
from ingest.consumer import ConsumerConfig, RawEventConsumer
from ingest.handlers.context import IngestContext
from nufair.settings import Settings
from tests.ingest.amqp import params, publish
from tests.ingest.comet import CometBroker
from tests.ingest.events import raw_body
from tests.ingest.helpers import SECRET, Receiver

#: Run number of every alert of the outage tests (one simulated event copied under new ids).
RUN = 140001
#: Event id of the first alert; the n-th is ``FIRST_ID + n``.
FIRST_ID = 5000


def outage_settings(base: Settings, receiver: Receiver, broker: CometBroker, sinks: list[str],
                    **timing: float) -> Settings:
    """``base`` with the webhook and VTP sinks pointed at ``receiver`` and ``broker``, the
    dispatcher and the runner not started by an app (the test drives them), and the
    dispatcher's ``timing`` (``dispatcher_*`` settings) on top."""
    return base.model_copy(update={
        "sinks": sinks, "webhook_url": receiver.url,
        "webhook_secret": SecretStr(SECRET.decode()), "webhook_formats": ["gcn-json"],
        "vtp_host": "127.0.0.1", "vtp_port": broker.receive_port, "vtp_timeout_s": 10.0,
        "dispatcher_enabled": False, "scan_runner_enabled": False, **timing})


def until(predicate: Callable[[], bool], timeout_s: float = 180.0, what: str = "") -> None:
    """Poll ``predicate`` until true; ``AssertionError`` naming ``what`` after ``timeout_s``
    (generous: the tests run on a loaded machine, and only the outcome is asserted)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout_s:.0f} s: {what}")


def ingest_through_rabbitmq(amqp: ConsumerConfig, ctx: IngestContext, ids: list[int],
                            ) -> list[int]:
    """Raw events ``ids`` published to the queue and consumed into the pipeline: copies of
    one simulated 100 TeV event (a bronze alert; its first guess is quick) under new ids."""
    base = raw_body(energy_tev=100.0, run_id=RUN)
    publish(amqp.queue, *(json.dumps({**base, "event_id": i}).encode() for i in ids))
    seen: list[str] = []
    RawEventConsumer(params(), ctx.pipeline.accept, amqp).run(
        max_messages=len(ids), idle_timeout_s=60, on_handled=lambda h: seen.append(h.outcome))
    assert seen == ["stored"] * len(ids)
    return ids


def publish_update(ctx: IngestContext, storage: CatalogStorage, event_id: int,
                   number: int) -> None:
    """Revision ``number`` of an alert, as a finished scan stores it (source reco, kind
    update, the next source revision), moved a little so each revision differs."""
    event = storage.get_event(f"{RUN}_{event_id}")
    first = event.revisions[0]
    assert first.ra is not None and first.dec is not None
    ctx.publisher.publish([NoticeRecord(
        observatory=event.observatory, run_id=event.run_id, event_id=event.event_id,
        name=None, stream=Stream(event.stream), event_time=event.event_time,
        kind=RevisionKind.UPDATE, source=Source.RECO, source_rev=number,
        source_key=f"reco:{event.observatory}:{event.run_id}:{event.event_id}:{number}",
        issued_at=datetime.now(UTC), ra=(first.ra + 0.1 * number) % 360, dec=first.dec,
        regions=(ErrorRegion(0.5, radius_deg=0.5), ErrorRegion(0.9, radius_deg=1.0)),
        energy_tev=first.energy_tev, signalness=first.signalness,
        far_per_year=first.far_per_year)])


def refused(engine: Engine) -> int:
    """Failed delivery attempts recorded so far (all sinks)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(notice_attempts)
                                .where(~notice_attempts.c.ok)).scalar_one())


def webhook_arrivals(receiver: Receiver) -> list[tuple[str, int]]:
    """(alert id, revision) of each notice in the order the receiver took it."""
    out = []
    for body in receiver.received.first_bodies.values():
        doc = json.loads(body)
        out.append((doc["id"][0], doc["record_number"] - 1))
    return out


_IVORN = re.compile(r"VOEvent (\S+) received from")


def broker_arrivals(broker: CometBroker) -> list[str]:
    """IVORNs in the order the broker received them (its log; repeats included)."""
    return _IVORN.findall(broker.log.read_text())


def vtp_turn(ivorn: str) -> tuple[str, int]:
    """(alert id, revision) from our IVORN's local part ``..._<run>_<event>_<revision>``."""
    run, event, number = ivorn.rsplit("_", 3)[1:]
    return f"{int(run)}_{int(event)}", int(number)


def assert_each_alert_in_order(turns: list[tuple[str, int]], ids: list[int],
                               revisions: int) -> None:
    """Each alert of ``ids`` arrived exactly once per revision, revisions 0, 1, ... in order
    (``turns``: (alert id, revision) in arrival order, alerts interleaved as they came)."""
    per_alert: dict[str, list[int]] = {}
    for alert, number in turns:
        per_alert.setdefault(alert, []).append(number)
    assert per_alert == {f"{RUN}_{i}": list(range(revisions)) for i in ids}
