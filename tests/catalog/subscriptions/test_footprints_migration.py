"""Migration 0016 re-keys stored subscriptions: equal tile sets become one footprint, each
live subscription names its footprint, a deleted one (no tiles) none; and back."""

from __future__ import annotations

import numpy as np
from alembic import command
from sqlalchemy import create_engine, text

from catalog.subscriptions.storage import footprint_digest
from nufair.migrate import alembic_config, upgrade

SHARED = [(0, 64), (128, 256)]
OWN = [(1024, 2048)]

_SUB = ("INSERT INTO subscriptions (id, name, owner, state, streams, notice_format, "
        "sink_kind, sink_target, footprint_kind, moc_order, area_deg2) VALUES "
        "(:id, :name, 'o', :state, '{gold}', 'gcn-json', 'sink', 'folder', 'moc', 3, 1.0)")


def test_equal_tile_sets_become_one_footprint(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0015")
    engine = create_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            for pk, state, tiles in ((1, "active", SHARED), (2, "paused", SHARED),
                                     (3, "active", OWN), (4, "deleted", [])):
                conn.execute(text(_SUB), {"id": pk, "name": f"s{pk}", "state": state})
                for lo, hi in tiles:
                    conn.execute(text("INSERT INTO subscription_tiles (subscription_pk, hpx) "
                                      "VALUES (:pk, int8range(:lo, :hi))"),
                                 {"pk": pk, "lo": lo, "hi": hi})
        upgrade(empty_db_url)
        with engine.connect() as conn:
            of: dict[int, int | None] = dict(conn.execute(text(
                "SELECT id, footprint_pk FROM subscriptions")).all())
            digests: dict[int, bytes] = dict(conn.execute(text(
                "SELECT id, digest FROM subscription_footprints")).all())
            rows = conn.execute(text("SELECT footprint_pk, lower(hpx), upper(hpx) FROM "
                                      "subscription_tiles ORDER BY 1, 2")).all()
        assert of[1] == of[2] != of[3] and of[4] is None
        assert len(digests) == 2
        # The digest is the one the service computes, so a new equal footprint joins it.
        shared, own = of[1], of[3]
        assert shared is not None and own is not None
        assert bytes(digests[shared]) == footprint_digest(np.array(SHARED, dtype=np.uint64))
        assert bytes(digests[own]) == footprint_digest(np.array(OWN, dtype=np.uint64))
        assert [tuple(t) for t in rows] == sorted(
            [(of[1], lo, hi) for lo, hi in SHARED] + [(of[3], lo, hi) for lo, hi in OWN])

        command.downgrade(alembic_config(empty_db_url), "0015")
        with engine.connect() as conn:
            back = conn.execute(text("SELECT subscription_pk, lower(hpx), upper(hpx) FROM "
                                     "subscription_tiles ORDER BY 1, 2")).all()
        assert [tuple(t) for t in back] == sorted(
            [(pk, lo, hi) for pk in (1, 2) for lo, hi in SHARED]
            + [(3, lo, hi) for lo, hi in OWN])
    finally:
        engine.dispose()
