"""A revision and its notices are stored in one transaction (with the raw event, the scan and
the DOIs of a flow); retractions add a revision."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from catalog.errors import Conflict, NotFound
from catalog.notices.parsed import Stream
from catalog.publish import Publisher
from catalog.schema.events import events, revisions
from catalog.schema.ingest import raw_events, scans
from catalog.schema.outbox import notices
from catalog.schema.pids import dois
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import PidMinting
from catalog.storage.unit import catalog_tx
from tests.ingest.events import raw_body
from tests.ingest.helpers import IVORN_BASE, publish_config, publishing, reco_record


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_initial_revision_is_stored_with_one_notice_per_route_and_format(
        storage: CatalogStorage, engine: Engine) -> None:
    publisher, outbox = publishing(storage, publish_config(
        ("folder", ("gcn-json", "voevent", "circular")), ("webhook", ("gcn-json",))))
    (stored,) = publisher.publish([reco_record()])
    assert (stored.number, stored.kind, stored.notices) == (0, "initial", 4)
    assert stored.name == "IceCube-200615A"
    rows = outbox.notices_of(revision_pk=stored.revision_pk)
    assert sorted((n.sink, n.format) for n in rows) == [
        ("folder", "circular"), ("folder", "gcn-json"), ("folder", "voevent"),
        ("webhook", "gcn-json")]
    assert len({n.idempotency_key for n in rows}) == 4
    assert all(n.status == "pending" and n.attempt_count == 0 for n in rows)
    doc = json.loads(next(n.payload for n in rows if n.format == "gcn-json"))
    assert (doc["ra"], doc["dec"], doc["record_number"]) == (142.9499, 3.66, 1)
    detail = storage.get_event("IceCube-200615A")
    assert detail.revisions[0].ivorn == (
        f"{IVORN_BASE}#ICECUBE_GOLD_Event2020-06-15T14:49:17.37_24_134191_017593623_0")


def test_storing_again_adds_nothing(storage: CatalogStorage, engine: Engine) -> None:
    publisher, _outbox = publishing(storage, publish_config())
    publisher.publish([reco_record()])
    again = publisher.publish([reco_record()])
    assert again[0].notices == 0
    assert _count(engine, notices) == 3 and _count(engine, revisions) == 1


def test_a_notice_that_cannot_be_built_rolls_back_the_revision(
        storage: CatalogStorage, engine: Engine) -> None:
    publisher, _outbox = publishing(storage, publish_config(("folder", ("gcn-json", "fax",))))
    with pytest.raises(ValueError, match="fax"):
        publisher.publish([reco_record()])
    assert (_count(engine, events), _count(engine, revisions), _count(engine, notices)) == (
        0, 0, 0)


def test_non_alerts_are_archived_without_notices(storage: CatalogStorage,
                                                 engine: Engine) -> None:
    publisher, _outbox = publishing(storage, publish_config())
    (stored,) = publisher.publish([reco_record(stream=Stream.NONE)])
    assert stored.notices == 0 and stored.name is None
    assert _count(engine, revisions) == 1 and _count(engine, notices) == 0


def test_update_supersedes_and_names_follow_the_day(storage: CatalogStorage) -> None:
    publisher, outbox = publishing(storage, publish_config(("folder", ("gcn-json", "voevent"))))
    first = publisher.publish([reco_record()])[0]
    other = publisher.publish([reco_record(event=99)])[0]
    assert (first.name, other.name) == ("IceCube-200615A", "IceCube-200615B")
    upd = publisher.publish([reco_record(number=1, ra=143.0, dec=3.7)])[0]
    assert (upd.number, upd.kind, upd.name) == (1, "update", "IceCube-200615A")
    voe = next(n for n in outbox.notices_of(revision_pk=upd.revision_pk)
               if n.format == "voevent").payload.decode()
    assert 'cite="supersedes"' in voe and "_017593623_0</EventIVORN>" in voe


def test_retraction_adds_a_revision_and_notices_and_keeps_the_earlier_ones(
        storage: CatalogStorage) -> None:
    publisher, outbox = publishing(storage, publish_config())
    publisher.publish([reco_record()])
    publisher.publish([reco_record(number=1)])
    r = publisher.retract("IceCube-200615A", "a detector artefact")
    assert (r.number, r.kind, r.notices) == (2, "retraction", 3)
    detail = storage.get_event("IceCube-200615A")
    assert [v.kind for v in detail.revisions] == ["initial", "update", "retraction"]
    assert detail.retracted and detail.revisions[2].retraction_reason == "a detector artefact"
    doc = json.loads(next(n.payload for n in outbox.notices_of(revision_pk=r.revision_pk)
                          if n.format == "gcn-json"))
    assert doc["alert_type"] == "retraction" and doc["ra"] == 142.9499
    assert "a detector artefact" in doc["additional_info"]
    with pytest.raises(Conflict):
        publisher.retract("IceCube-200615A", "again")
    with pytest.raises(NotFound):
        publisher.retract("IceCube-990101A", "no such event")


def test_every_store_of_a_flow_commits_or_rolls_back_together(
        storage: CatalogStorage, engine: Engine) -> None:
    publisher, _ = publishing(storage, publish_config())
    with pytest.raises(RuntimeError, match="a later step"), catalog_tx(engine) as tx:
        (rev,) = publisher.store_revisions(tx, [reco_record()])
        raw_pk = tx.raw_events.insert(raw_body(), event_pk=rev.event_pk, stream="gold",
                                      selection={})
        assert raw_pk is not None
        tx.scans.create(raw_pk, priority="realtime", config={}, publish="update")
        assert publisher.queue_notices(tx, [rev])[0].notices == 3
        raise RuntimeError("a later step of the flow failed")
    assert [_count(engine, t) for t in (events, revisions, notices, raw_events, scans)] == [
        0, 0, 0, 0, 0]


def test_dois_are_minted_with_the_revision_when_pids_are_configured(
        storage: CatalogStorage, engine: Engine) -> None:
    plain = Publisher(engine, publish_config())
    plain.publish([reco_record(event=1)])
    assert _count(engine, dois) == 0
    minting = Publisher(engine, publish_config(), pids=PidMinting("10.5072", "local"))
    (stored,) = minting.publish([reco_record(event=2)])
    with engine.connect() as conn:
        kinds = sorted(conn.execute(select(dois.c.kind).where(
            dois.c.event_pk == stored.event_pk)).scalars())
    assert kinds == ["concept", "version"]
