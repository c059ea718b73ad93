"""Fenced scan claims: a runner whose claim was taken cannot write (the steal is forced), a
scan is claimed at most ``max_claims`` times, and heartbeats keep a claim alive while the
update is being published (a slow artifact store)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

import nufair.ingest
from catalog.schema.events import revisions
from catalog.schema.ingest import ScanRead, scan_snapshots
from catalog.storage.events import CatalogStorage
from catalog.storage.raw_events import IngestStorage
from catalog.storage.scans import LostClaim, ScanStorage, Snapshot
from catalog.storage.unit import catalog_tx
from ingest.scanning.artifacts import ArtifactStore, make_store
from ingest.scanning.runner import ANY_LANE, DaskClients, RunnerConfig, ScanRunner
from ingest.scanning.skymaps import WrittenFile
from ingest.scanning.update import UpdatePublisher
from nufair.app import create_app
from nufair.context import NufairApp
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import fast_settings, wait_for

#: Any scan configuration: these scans never run on Dask.
CONFIG = {"nsides": [[4, 0]], "n_seeds": 3, "n_iter": 6}
SNAP = Snapshot(0.5, 1, 2, 1.0, 1.0, None)
NOW = timedelta(0)  # a claim older than "now" is stale: the next claim_next steals it


def _queued(scans: ScanStorage, event_id: int) -> int:
    return scans.create_inline(raw_body(event_id=event_id), priority="reprocessing",
                               config=CONFIG).id


def _stored(engine: Engine, pk: int) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(scan_snapshots.c.kind)
                                 .where(scan_snapshots.c.scan_pk == pk)
                                 .order_by(scan_snapshots.c.seq)).scalars())


def _refused(write: Any) -> None:
    with pytest.raises(LostClaim):
        write()


def test_a_runner_whose_claim_was_taken_cannot_write(storage: CatalogStorage) -> None:
    scans = ScanStorage(storage.engine)
    pk = _queued(scans, 80)
    a = scans.claim_next("host:1/0", ANY_LANE, timedelta(seconds=60))
    assert a is not None and a.id == pk and a.claim_token
    # A stalls; its claim goes stale and is taken, even under the same worker name.
    b = scans.claim_next("host:1/0", ANY_LANE, NOW)
    assert b is not None and b.id == pk and b.claims == 2 and b.claim_token
    assert b.claim_token != a.claim_token
    ta, tb = a.claim_token, b.claim_token
    _refused(lambda: scans.heartbeat(pk, ta))
    _refused(lambda: scans.add_snapshot(pk, ta, SNAP))
    _refused(lambda: scans.check(pk, ta))
    _refused(lambda: scans.finish(pk, ta, "failed", "A's failure"))

    def publish(token: str) -> None:
        with catalog_tx(storage.engine) as tx:
            tx.scans.hold(pk, token)
            tx.scans.finish_done(pk, token, SNAP, {"by": token}, None)

    _refused(lambda: publish(ta))
    scans.release(pk, ta)  # a no-op for a lost claim
    row = scans.get(pk)
    assert (row.claim_token, row.outcome, row.error) == (tb, None, None)
    assert _stored(storage.engine, pk) == []  # nothing of A's
    # B holds it: it writes, and finishes exactly once.
    assert scans.heartbeat(pk, tb) is False
    scans.add_snapshot(pk, tb, SNAP)
    publish(tb)
    _refused(lambda: publish(tb))
    _refused(lambda: scans.heartbeat(pk, tb))
    assert scans.get(pk).outcome == "done"
    assert _stored(storage.engine, pk) == ["partial", "final"]


class _Claimer(ScanRunner):
    """A runner that only claims (what it would run is beside the point here)."""

    claimed: list[int]

    def _execute(self, claim: Any) -> None:
        self.claimed = [*getattr(self, "claimed", []), claim.row.id]


def test_claims_are_limited_then_the_scan_fails(storage: CatalogStorage,
                                                caplog: pytest.LogCaptureFixture) -> None:
    scans = ScanStorage(storage.engine)
    pk = _queued(scans, 81)
    other = _queued(scans, 82)
    for n in (1, 2):
        row = scans.claim_next(f"r{n}/0", ANY_LANE, NOW, max_claims=2)
        assert row is not None and (row.id, row.claims) == (pk, n)
    # The runner gives the exhausted scan up (with the reason) and takes the next one.
    runner = _Claimer(scans, IngestStorage(storage.engine), cast(Any, None),
                      cast(Any, None), DaskClients(None, 1, False),
                      RunnerConfig(stale_s=0.0, max_claims=2))
    with caplog.at_level(logging.ERROR, logger="ingest.scanning.runner"):
        runner.run_one()
    failed = scans.get(pk)
    assert (failed.outcome, failed.claims, failed.claim_token) == ("failed", 2, None)
    assert failed.error is not None and "claimed 2 times without finishing" in failed.error
    assert f"scan {pk} failed: claimed 2 times" in caplog.text
    assert runner.claimed == [other]


class _SlowStore:
    """An artifact store whose upload takes ``delay_s`` while a ``probe`` runs every
    ``every_s`` (from the publishing runner's own thread, as a slow upload would block it)."""

    def __init__(self, inner: ArtifactStore) -> None:
        self.inner = inner
        self.delay_s = 0.0
        self.every_s = 0.2
        self.probe: Any = lambda: None
        self.placed: list[PurePosixPath] = []

    def scratch(self) -> Path:
        return self.inner.scratch()

    def place(self, rel: PurePosixPath, files: list[WrittenFile]) -> list[str]:
        urls = self.inner.place(rel, files)
        self.placed.append(rel)
        end = time.monotonic() + self.delay_s
        self.probe()
        while time.monotonic() < end:
            time.sleep(self.every_s)
            self.probe()
        return urls


def _slow_app(settings: Settings, monkeypatch: pytest.MonkeyPatch,
              ) -> tuple[NufairApp, list[_SlowStore]]:
    stores: list[_SlowStore] = []

    def slow(root: Path, url: str | None) -> ArtifactStore:
        stores.append(_SlowStore(make_store(root, url)))
        return stores[-1]

    monkeypatch.setattr(nufair.ingest, "make_store", slow)
    cfg = fast_settings(settings, dispatcher_enabled=False, scan_heartbeat_s=0.2,
                        scan_stale_s=1.0)
    return create_app(cfg), stores


def _scan_of(client: TestClient, headers: dict[str, str], event_id: int) -> int:
    r = client.post("/api/v1/events/raw", json=raw_body(event_id=event_id), headers=headers)
    assert r.status_code == 201, r.text
    (scan,) = client.get("/api/v1/scans", params={"event_id": event_id}).json()
    return int(scan["id"])


def _ended(client: TestClient, pk: int) -> dict[str, Any]:
    def end() -> dict[str, Any] | None:
        s: dict[str, Any] = client.get(f"/api/v1/scans/{pk}").json()
        return s if s["state"] in ("done", "failed") else None

    return wait_for(end, timeout_s=180, what="scan end")


def _update_revisions(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(revisions.c.number).where(revisions.c.number > 0)
                                 .order_by(revisions.c.number)).scalars())


def test_heartbeats_go_on_while_the_update_is_published(
        settings: Settings, admin_headers: dict[str, str], engine: Engine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An upload three times longer than the stale time: nobody can take the claim."""
    scans = ScanStorage(engine)
    stolen: list[ScanRead] = []

    def thief() -> None:
        row = scans.claim_next("thief/0", ANY_LANE, timedelta(seconds=1.0))
        if row is not None:
            stolen.append(row)

    app, stores = _slow_app(settings, monkeypatch)
    with TestClient(app) as client:
        (store,) = stores
        store.delay_s, store.probe = 3.0, thief
        pk = _scan_of(client, admin_headers, 83)
        done = _ended(client, pk)
    assert stolen == []
    assert (done["state"], done["claims"], done["revision"]) == ("done", 1, 1), done["error"]
    assert store.placed == [PurePosixPath(store.placed[0].parts[0], "1")]
    assert _stored(engine, pk)[-1] == "final"


def test_a_stolen_scan_is_published_once_by_the_thief(
        settings: Settings, admin_headers: dict[str, str], engine: Engine,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Runner A stalls in its upload; runner B takes the claim, runs and publishes the scan;
    A's publication is then refused: one final snapshot, one update revision."""
    app, stores = _slow_app(settings, monkeypatch)
    with TestClient(app) as client, \
            caplog.at_level(logging.WARNING, logger="ingest.scanning.runner"):
        (store,) = stores
        a: ScanRunner = app.ingest_context.runner
        b_publisher = UpdatePublisher(engine, a.publisher.publisher, a.publisher.catalog,
                                      a.scans, store.inner)
        b = ScanRunner(a.scans, a.raw, a.detector, b_publisher, a.clients,
                       RunnerConfig(stale_s=0.0, heartbeat_s=0.2), name="thief")
        finished: list[ScanRead | None] = []

        def steal_once() -> None:
            if not finished:
                finished.append(b.run_one())

        store.probe = steal_once
        pk = _scan_of(client, admin_headers, 84)
        wait_for(lambda: f"scan {pk}: " in caplog.text and "lost its claim" in caplog.text,
                 timeout_s=180, what="A refused")
        done = client.get(f"/api/v1/scans/{pk}").json()
    (b_row,) = finished
    assert b_row is not None and b_row.id == pk and b_row.claimed_by == "thief/0"
    assert (done["state"], done["claims"], done["revision"]) == ("done", 2, 1), done["error"]
    assert _stored(engine, pk).count("final") == 1
    assert _update_revisions(engine) == [1]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(scan_snapshots)
                            .where(scan_snapshots.c.kind == "final")).scalar_one() == 1
