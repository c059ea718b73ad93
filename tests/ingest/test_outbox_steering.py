"""Issue 16 item 6: an outbox an operator can steer.

A notice is given up (``failed``, with the reason) after the configured attempts or on a
permanent 4xx, and then no longer holds back the alert's later revisions; an operator lists
notices by alert, sink and state, retries one, and replays history, e.g. to a sink added
after the alerts went out (API and CLI). Deliveries go to a real webhook receiver.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr

from catalog.publish import Publisher
from catalog.storage.events import CatalogStorage
from catalog.storage.outbox import OutboxStorage
from ingest.dispatcher import Dispatcher, DispatcherConfig
from ingest.sinks.folder import FolderSink
from ingest.sinks.webhook import WebhookSink
from nufair.app import create_app
from nufair.cli import main
from nufair.ingest import make_sinks, publish_config
from nufair.settings import Settings
from tests.ingest.helpers import SECRET, Receiver, publishing, reco_record
from tests.ingest.helpers import publish_config as routes_config

FAST = DispatcherConfig(poll_s=0.05, batch=50, lease_s=30.0, backoff_base_s=0.01,
                        backoff_max_s=0.02)
EVENTS = (2001, 2002, 2003)


def _webhook(receiver: Receiver, secret: bytes = SECRET) -> WebhookSink:
    return WebhookSink(receiver.url, secret, timeout_s=1.0)


def _two_revisions(publisher: Publisher, event: int = 1000) -> None:
    publisher.publish([reco_record(event=event)])
    publisher.publish([reco_record(event=event, number=1, ra=143.1, r90=0.9)])


def _key(event: int, number: int, sink: str = "webhook") -> str:
    return f"nufair:IceCube:134191:{event}:r{number}:{sink}:gcn-json"


def test_a_notice_is_given_up_after_max_attempts_and_stops_holding_back_the_next(
        storage: CatalogStorage, receiver: Receiver) -> None:
    publisher, outbox = publishing(storage, routes_config(("webhook", ("gcn-json",))))
    _two_revisions(publisher)
    receiver.stop()
    d = Dispatcher(outbox, [_webhook(receiver)], replace(FAST, max_attempts=2))
    (first,) = d.run_once()  # only revision 0: revision 1 waits its turn
    assert not first.ok and not first.gave_up and first.attempt == 1
    time.sleep(0.05)  # past the backoff
    (second,) = d.run_once()
    assert second.notice_pk == first.notice_pk and second.gave_up and second.attempt == 2
    receiver.start()
    (third,) = d.run_once()  # revision 1 goes: a given-up notice holds nothing back
    assert third.ok and third.notice_pk != first.notice_pk
    assert list(receiver.received.requests) == [_key(1000, 1)]
    failed, delivered = outbox.notices_of()
    assert (failed.status, delivered.status) == ("failed", "delivered")
    assert len(outbox.attempts_of(failed.id)) == 2
    assert d.run_once() == []  # failed is terminal


def test_a_permanent_refusal_is_given_up_at_once_a_503_is_not(
        storage: CatalogStorage, receiver: Receiver, client: TestClient,
        admin_headers: dict[str, str]) -> None:
    publisher, outbox = publishing(storage, routes_config(("webhook", ("gcn-json",))))
    publisher.publish([reco_record(event=1)])
    publisher.publish([reco_record(event=2)])
    receiver.fail_next = 2
    busy = Dispatcher(outbox, [_webhook(receiver)], FAST).run_once()
    assert [(o.ok, o.gave_up, "503" in o.detail) for o in busy] == [(False, False, True)] * 2
    wrong = Dispatcher(outbox, [_webhook(receiver, b"wrong-secret")], FAST)
    time.sleep(0.05)
    outcomes = wrong.run_once()
    assert [(o.ok, o.gave_up, o.attempt) for o in outcomes] == [(False, True, 2)] * 2
    assert receiver.received.bad_signatures == 2
    page = client.get("/api/v1/notices", params={"state": "failed"}, headers=admin_headers)
    assert page.status_code == 200, page.text
    reasons = [n["failed_reason"] for n in page.json()["notices"]]
    assert len(reasons) == 2 and all(r.startswith("refused for good (HTTP 401)")
                                     for r in reasons)


def test_list_filters_pages_and_needs_a_token(
        storage: CatalogStorage, settings: Settings, admin_headers: dict[str, str]) -> None:
    publisher, _outbox = publishing(storage, routes_config(("webhook", ("gcn-json",)),
                                                         ("folder", ("gcn-json", "voevent"))))
    _two_revisions(publisher, 1000)
    _two_revisions(publisher, 1001)
    quiet = settings.model_copy(update={"dispatcher_enabled": False,
                                        "scan_runner_enabled": False})
    with TestClient(create_app(quiet)) as client:
        _list_filters_and_pages(client, storage, admin_headers)


def _list_filters_and_pages(client: TestClient, storage: CatalogStorage,
                            admin_headers: dict[str, str]) -> None:
    assert client.get("/api/v1/notices").status_code == 401
    name = storage.get_event("134191_1001").name
    got = client.get("/api/v1/notices", headers=admin_headers,
                     params={"alert": name, "sink": "folder"}).json()
    assert [(n["revision"], n["format"]) for n in got["notices"]] == [
        (0, "gcn-json"), (0, "voevent"), (1, "gcn-json"), (1, "voevent")]
    assert all(n["alert"] == name and n["state"] == "pending" for n in got["notices"])
    seen: list[int] = []
    after = 0
    while True:
        page = client.get("/api/v1/notices", headers=admin_headers,
                          params={"limit": 5, "after": after}).json()
        seen += [n["id"] for n in page["notices"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert len(seen) == 12 and seen == sorted(set(seen))
    missing = client.get("/api/v1/notices", headers=admin_headers, params={"alert": "9_9"})
    assert missing.status_code == 404


def _settings(base: Settings, receiver: Receiver, sinks: list[str]) -> Settings:
    return base.model_copy(update={
        "sinks": sinks, "webhook_url": receiver.url,
        "webhook_secret": SecretStr(SECRET.decode()), "folder_formats": ["gcn-json"],
        "dispatcher_enabled": False, "scan_runner_enabled": False})


def test_replay_gives_a_sink_added_later_the_history_in_order_and_once(
        storage: CatalogStorage, settings: Settings, receiver: Receiver, tmp_path: Path,
        admin_headers: dict[str, str]) -> None:
    before = _settings(settings, receiver, ["folder"])
    publisher = Publisher(storage.engine, publish_config(before, make_sinks(before)))
    for event in EVENTS:
        _two_revisions(publisher, event)
    outbox = OutboxStorage(storage.engine)
    folder = FolderSink(tmp_path / "out", formats=("gcn-json",))
    assert len(Dispatcher(outbox, [folder], FAST).drain(10)) == 6
    after = _settings(settings, receiver, ["folder", "webhook"])
    with TestClient(create_app(after)) as client:
        r = client.post("/api/v1/notices/replay", json={"sink": "webhook"},
                        headers=admin_headers)
        assert r.status_code == 202, r.text
        assert r.json()["revisions"] == 6 and r.json()["rendered"] == 6
        assert len(r.json()["notices"]) == 6
        assert client.post("/api/v1/notices/replay", json={}, headers=admin_headers
                           ).status_code == 422
        assert client.post("/api/v1/notices/replay", json={"sink": "vtp"},
                           headers=admin_headers).status_code == 422
    d = Dispatcher(outbox, [_webhook(receiver), folder], FAST)
    assert all(o.ok and o.sink == "webhook" for o in d.drain(10))
    arrivals = list(receiver.received.first_bodies)
    assert sorted(arrivals) == sorted(_key(e, n) for e in EVENTS for n in (0, 1))
    for event in EVENTS:
        assert arrivals.index(_key(event, 0)) < arrivals.index(_key(event, 1))
    assert set(receiver.received.requests.values()) == {1}
    for n in outbox.notices_of():  # the webhook got what the folder got, byte for byte
        if n.sink == "webhook":
            (twin,) = [f for f in outbox.notices_of(revision_pk=n.revision_pk)
                       if f.sink == "folder"]
            assert n.payload == (tmp_path / "out" / "gcn-json" / twin.filename).read_bytes()
        else:
            assert len(outbox.attempts_of(n.id)) == 1  # the folder was not sent again


def test_retry_and_replay_of_an_alert_from_the_api(
        storage: CatalogStorage, settings: Settings, receiver: Receiver,
        admin_headers: dict[str, str]) -> None:
    conf = _settings(settings, receiver, ["webhook"])
    publisher = Publisher(storage.engine, publish_config(conf, make_sinks(conf)))
    _two_revisions(publisher)
    outbox = OutboxStorage(storage.engine)
    wrong = Dispatcher(outbox, [_webhook(receiver, b"wrong")], FAST)
    assert [o.gave_up for o in wrong.run_once() + wrong.run_once()] == [True, True]
    r0, r1 = outbox.notices_of()
    d = Dispatcher(outbox, [_webhook(receiver)], FAST)
    with TestClient(create_app(conf)) as client:
        got = client.post(f"/api/v1/notices/{r0.id}/retry", headers=admin_headers)
        assert got.status_code == 200 and got.json()["state"] == "pending"
        assert got.json()["failed_reason"] is None
        assert [o.notice_pk for o in d.drain(10)] == [r0.id]
        assert client.post(f"/api/v1/notices/{r0.id}/retry", headers=admin_headers
                           ).status_code == 409
        assert client.post("/api/v1/notices/999999/retry", headers=admin_headers
                           ).status_code == 404
        name = storage.get_event("134191_1000").name
        replay = client.post("/api/v1/notices/replay", json={"alert": name},
                             headers=admin_headers).json()
        assert replay == {"revisions": 2, "rendered": 0, "notices": [r0.id, r1.id]}
    assert [o.notice_pk for o in d.drain(10)] == [r0.id, r1.id]
    assert receiver.received.requests[_key(1000, 0)] == 2
    assert receiver.received.requests[_key(1000, 1)] == 1


def test_cli_lists_retries_and_replays(
        db_url: str, storage: CatalogStorage, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUFAIR_DATABASE_URL", db_url)
    monkeypatch.setenv("NUFAIR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NUFAIR_FOLDER_FORMATS", '["gcn-json"]')
    conf = Settings()
    publisher = Publisher(storage.engine, publish_config(conf, make_sinks(conf)))
    _two_revisions(publisher)
    outbox = OutboxStorage(storage.engine)
    r0, r1 = outbox.notices_of()
    assert outbox.attempts_of(r0.id) == []
    run = CliRunner().invoke
    listed = run(main, ["notices", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]  # logs: stderr
    assert [(r["id"], r["revision"], r["state"]) for r in rows] == [
        (r0.id, 0, "pending"), (r1.id, 1, "pending")]
    sent = run(main, ["notices", "replay", "--sink", "folder", "--deliver-timeout", "10"])
    assert sent.exit_code == 0, sent.output
    assert "2 revision(s) replayed" in sent.output and "2 notice(s) delivered" in sent.output
    assert len(list((tmp_path / "var" / "notices").rglob("*.json"))) == 2
    future = run(main, ["notices", "replay", "--sink", "folder", "--since", "2999-01-01"])
    assert future.exit_code == 0 and "0 revision(s) replayed" in future.output
    refused = run(main, ["notices", "retry", str(r0.id)])
    assert refused.exit_code == 1 and "[conflict]" in refused.output
    assert run(main, ["notices", "list", "--state", "delivered"]).stdout.count("\n") == 2
