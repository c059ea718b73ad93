"""1 000 subscriptions, 100 alerts: every subscriber whose footprint overlaps a revision's
region gets exactly one notice for it, nobody else does — checked against mocpy."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from mocpy import MOC
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from catalog.publish import Publisher, notice_input
from catalog.schema.events import region_tiles, revisions
from catalog.schema.outbox import notices
from catalog.sky import FULL_SKY_DEG2
from catalog.storage.events import CatalogStorage
from catalog.storage.unit import catalog_tx
from catalog.subscriptions.matching import SubscriptionStore, match_query
from catalog.subscriptions.models import SubscriptionCreate
from catalog.subscriptions.service import register
from catalog.subscriptions.storage import SubscriptionStorage
from tests.catalog.subscriptions.sky import Spec, random_record, random_spec
from tests.ingest.helpers import publish_config

N_SUBS, N_ALERTS, N_UPDATES, N_RETRACTIONS = 1000, 100, 25, 5

World = tuple[Publisher, SubscriptionStorage, dict[int, Spec]]


def _region_moc(engine: Engine, revision_pk: int) -> MOC | None:
    """The revision's published region (its widest level's tiles) as a mocpy MOC."""
    with engine.connect() as conn:
        rows = conn.execute(select(region_tiles.c.level, region_tiles.c.hpx).where(
            region_tiles.c.revision_pk == revision_pk)).all()
    if not rows:
        return None
    level = max(lv for lv, _ in rows)
    ranges = np.array([[r.lower, r.upper] for lv, r in rows if lv == level], dtype=np.uint64)
    return MOC.from_depth29_ranges(29, ranges)


def _wanted(spec: Spec, stream: str, signalness: float | None) -> bool:
    if stream not in spec.streams:
        return False
    return spec.min_signalness is None or (signalness is not None
                                           and signalness >= spec.min_signalness)


@pytest.fixture(scope="module")
def world(module_storage: CatalogStorage) -> World:
    """1 000 subscriptions (built once: both tests only add alerts and look at their own)."""
    storage = module_storage
    rng = np.random.default_rng(19)
    subs = SubscriptionStorage(storage.engine)
    specs: dict[int, Spec] = {}
    for i in range(N_SUBS):
        spec = random_spec(rng, i, {"configured": "folder"})
        if specs and rng.random() < 0.1:  # a footprint another subscriber named (stored once)
            same = list(specs.values())[int(rng.integers(len(specs)))]
            spec = Spec({**spec.body, "footprint": same.body["footprint"]}, same.moc,
                        spec.streams, spec.min_signalness)
        created = register(subs, SubscriptionCreate.model_validate(spec.body), "owner")
        specs[created.id] = spec
    # Statistics, as autovacuum gathers them after a bulk of new rows: on a table it has
    # never analysed the planner scans every tile (~2 s a revision here, measured).
    with storage.engine.begin() as conn:
        conn.execute(text("ANALYZE subscription_tiles; ANALYZE subscriptions"))
    publisher = Publisher(storage.engine, publish_config(), pids=storage.pids)
    return publisher, subs, specs


def test_every_overlapping_subscriber_gets_one_notice_per_revision(world: World) -> None:
    publisher, subs, specs = world
    engine = publisher.engine
    rng = np.random.default_rng(1019)
    stored = publisher.publish([random_record(rng, i) for i in range(N_ALERTS)])
    # Some subscribers pause or leave before the updates: they get nothing more.
    ids = sorted(specs)
    paused, deleted = set(ids[::50]), set(ids[7::50])
    for pk in paused:
        subs.set_state(pk, "owner", "paused")
    for pk in deleted:
        subs.delete(pk, "owner")
    updated = [stored[i] for i in range(0, N_ALERTS, N_ALERTS // N_UPDATES)]
    stored += publisher.publish([random_record(rng, i, number=1, stream=s.stream)
                                 for i, s in zip(range(0, N_ALERTS, N_ALERTS // N_UPDATES),
                                                 updated, strict=True)])
    retracted = [stored[i] for i in (3, 10, 20, 33, 41)]
    retractions = [publisher.retract(str(s.event_pk), "test") for s in retracted]
    # This test's revisions (the module's other test adds an alert of its own).
    own = [s.revision_pk for s in stored] + [r.revision_pk for r in retractions]

    with engine.connect() as conn:
        revs = {r.id: r for r in conn.execute(select(revisions))}
        got = Counter((n.revision_pk, int(n.sink[4:])) for n in conn.execute(
            select(notices.c.revision_pk, notices.c.sink)
            .where(notices.c.sink.startswith("sub:"), notices.c.revision_pk.in_(own))))
        bodies = {(n.revision_pk, int(n.sink[4:])): json.loads(n.payload) for n in conn.execute(
            select(notices.c.revision_pk, notices.c.sink, notices.c.payload)
            .where(notices.c.sink.startswith("sub:"), notices.c.revision_pk.in_(own)))}
    assert set(got.values()) == {1}

    expected: set[tuple[int, int]] = set()
    first_pks = {s.revision_pk for s in stored[:N_ALERTS]}
    area_checked = 0
    for s in stored:
        rev = revs[s.revision_pk]
        region = _region_moc(engine, s.revision_pk)
        assert region is not None
        active = set(ids) if s.revision_pk in first_pks else set(ids) - paused - deleted
        for pk in active:
            spec = specs[pk]
            if not _wanted(spec, rev.stream, rev.signalness):
                continue
            both = region.intersection(spec.moc)
            if both.empty():
                continue
            expected.add((s.revision_pk, pk))
            if area_checked < 300:  # the overlap figures, against mocpy's
                overlap = bodies[(s.revision_pk, pk)]["overlap"]
                assert overlap["area_deg2"] == pytest.approx(
                    both.sky_fraction * FULL_SKY_DEG2, rel=1e-6, abs=1e-6)
                assert overlap["fraction"] == pytest.approx(
                    both.sky_fraction / region.sky_fraction, rel=1e-5, abs=1e-6)
                area_checked += 1
    # A retraction goes to the active subscribers sent an earlier revision of the alert.
    for s, r in zip(retracted, retractions, strict=True):
        earlier = {pk for (rev_pk, pk) in expected if revs[rev_pk].event_pk == s.event_pk}
        expected |= {(r.revision_pk, pk) for pk in earlier - paused - deleted}
    assert len(expected) > 500  # the sample really exercises the match
    assert area_checked == 300
    assert set(got) == expected
    # Queuing again (a flow retried) adds nothing: one notice per revision and subscriber.
    with catalog_tx(engine) as tx:
        facts = tx.outbox.notice_facts(stored[0].revision_pk)
        assert facts.revision.ivorn is not None
        again = SubscriptionStore(tx.conn).queue_matches(
            stored[0].revision_pk, notice_input(facts, facts.revision.ivorn,
                                                publisher.config))
    assert again == 0


def test_the_match_is_one_indexed_query(world: World) -> None:
    publisher, _, _ = world
    (s,) = publisher.publish([random_record(np.random.default_rng(5), 0)])
    with publisher.engine.connect() as conn:
        sql = match_query(s.revision_pk, 90, "gold", 0.5).compile(
            conn, compile_kwargs={"literal_binds": True})
        plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}")))
    assert "ix_subscription_tiles_hpx" in plan, plan
