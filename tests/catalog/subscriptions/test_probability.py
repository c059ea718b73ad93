"""With a probability map, a subscriber's envelope gives the share of the region's
probability inside the footprint — checked with plain healpy/numpy sums over cells."""

from __future__ import annotations

import json

import healpy as hp
import numpy as np
from sqlalchemy import select

from catalog.publish import Publisher
from catalog.schema.events import region_tiles
from catalog.schema.outbox import notices
from catalog.storage.events import CatalogStorage
from catalog.storage.unit import catalog_tx
from catalog.subscriptions.models import SubscriptionCreate
from catalog.subscriptions.probability import ProbabilityMap
from catalog.subscriptions.service import register
from catalog.subscriptions.storage import SubscriptionStorage
from tests.ingest.helpers import publish_config, reco_record

ORDER = 6
NSIDE = 2**ORDER


def _cells(ranges: list[tuple[int, int]]) -> np.ndarray:
    shift = 2 * (29 - ORDER)
    assert all(lo % (1 << shift) == 0 and hi % (1 << shift) == 0 for lo, hi in ranges)
    return np.concatenate([np.arange(lo >> shift, hi >> shift) for lo, hi in ranges])


def test_probability_share_inside_each_footprint(storage: CatalogStorage) -> None:
    # A Gaussian blob (sigma 2 deg) beside the alert's position, as an order-6 map.
    ipix = np.arange(12 * NSIDE**2)
    ra, dec = hp.pix2ang(NSIDE, ipix, nest=True, lonlat=True)
    sep = hp.rotator.angdist([ra, dec], [143.5, 4.0], lonlat=True)
    prob = np.exp(-0.5 * (np.degrees(sep) / 2.0) ** 2)
    prob /= prob.sum()
    pmap = ProbabilityMap(4 * 4**ORDER + ipix, prob / hp.nside2pixarea(NSIDE))

    subs = SubscriptionStorage(storage.engine)
    rng = np.random.default_rng(7)
    near = np.flatnonzero(np.degrees(sep) < 6)
    chosen = {}
    for i in range(4):  # footprints: random halves of the cells near the alert
        cells = np.sort(rng.choice(near, size=len(near) // 2, replace=False))
        moc = f"{ORDER}/" + " ".join(str(c) for c in cells)
        made = register(subs, SubscriptionCreate.model_validate({
            "name": f"f{i}", "footprint": {"moc": moc}, "sink": {"configured": "folder"}}),
            "me")
        chosen[made.id] = set(cells.tolist())

    publisher = Publisher(storage.engine, publish_config(), pids=None)
    with catalog_tx(storage.engine) as tx:  # r90 = 5 deg: tiles of order 6
        stored = publisher.store_revisions(tx, [reco_record(ra=143.0, dec=3.7, r90=5.0,
                                                            r50=2.0)])
        publisher.queue_notices(tx, stored, pmap)
    rev_pk = stored[0].revision_pk
    with storage.engine.connect() as conn:
        region = set(_cells([(r.lower, r.upper) for r in conn.execute(
            select(region_tiles.c.hpx).where(region_tiles.c.revision_pk == rev_pk,
                                             region_tiles.c.level == 90)).scalars()]).tolist())
        got = {int(n.sink[4:]): json.loads(n.payload)["overlap"] for n in conn.execute(
            select(notices.c.sink, notices.c.payload).where(notices.c.sink.startswith("sub:")))}
    p_region = prob[sorted(region)].sum()
    assert set(got) == set(chosen)
    for pk, mine in chosen.items():
        want = prob[sorted(region & mine)].sum() / p_region
        assert got[pk]["fraction_of"] == "probability"
        assert abs(got[pk]["fraction"] - want) < 1e-5
        assert abs(got[pk]["area_fraction"] - len(region & mine) / len(region)) < 1e-5
