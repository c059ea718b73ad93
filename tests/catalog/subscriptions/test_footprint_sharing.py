"""A footprint named by several subscriptions is stored once; each of them is matched with
it; it goes when the last of them is deleted."""

from __future__ import annotations

import dataclasses

import numpy as np
from sqlalchemy import func, select

from catalog.publish import Publisher
from catalog.schema.subscriptions import subscription_footprints, subscription_tiles
from catalog.storage.events import CatalogStorage
from catalog.subscriptions.matching import SubscriptionStore
from catalog.subscriptions.models import SubscriptionCreate
from catalog.subscriptions.service import parse_footprint, register
from catalog.subscriptions.storage import SubscriptionStorage
from tests.catalog.subscriptions.sky import random_record
from tests.ingest.helpers import publish_config

CONE = {"cone": {"ra": 120.0, "dec": 10.0, "radius": 6.0}}
OTHER = {"cone": {"ra": 300.0, "dec": -40.0, "radius": 2.0}}


def _body(name: str, footprint: dict[str, dict[str, float]],
          streams: list[str]) -> SubscriptionCreate:
    return SubscriptionCreate.model_validate({
        "name": name, "streams": streams, "footprint": footprint,
        "sink": {"configured": "folder"}})


def _counts(storage: CatalogStorage) -> tuple[int, int]:
    with storage.engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(subscription_footprints))
                .scalar_one(),
                conn.execute(select(func.count()).select_from(subscription_tiles)).scalar_one())


def test_shared_footprint_is_stored_once_and_dropped_with_its_last_subscriber(
        storage: CatalogStorage) -> None:
    subs = SubscriptionStorage(storage.engine)
    a = register(subs, _body("a", CONE, ["gold"]), "o")
    b = register(subs, _body("b", CONE, ["gold", "bronze"]), "o")
    c = register(subs, _body("c", OTHER, ["gold"]), "o")
    n_cone = len(parse_footprint(_body("x", CONE, ["gold"]).footprint).ranges)
    n_other = len(parse_footprint(_body("x", OTHER, ["gold"]).footprint).ranges)
    assert _counts(storage) == (2, n_cone + n_other)

    # An alert right on the shared cone: both of its subscribers match, with one overlap.
    rec = random_record(np.random.default_rng(3), 0, stream="gold")
    rec = dataclasses.replace(rec, ra=120.0, dec=10.0)
    publisher = Publisher(storage.engine, publish_config(), pids=storage.pids)
    (s,) = publisher.publish([rec])
    with storage.engine.connect() as conn:
        found = SubscriptionStore(conn).matches(s.revision_pk, "gold", rec.signalness)
    assert [f[0] for f in found] == [a.id, b.id]
    assert found[0][3] == found[1][3] and found[0][3].area_deg2 > 0

    subs.delete(a.id, "o")
    assert _counts(storage) == (2, n_cone + n_other)  # b still names it
    with storage.engine.connect() as conn:
        found = SubscriptionStore(conn).matches(s.revision_pk, "gold", rec.signalness)
    assert [f[0] for f in found] == [b.id]
    subs.delete(b.id, "o")
    assert _counts(storage) == (1, n_other)
    # Registered again: stored anew.
    register(subs, _body("d", CONE, ["gold"]), "o")
    assert _counts(storage) == (2, n_cone + n_other)
    assert subs.get(c.id, "o").state == "active"
