"""Delivery of subscription notices: signed webhooks in order, configured sinks, the SSRF
refusal, deletion, test-fire; and the API and CLI that manage subscriptions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr

from catalog.storage.events import CatalogStorage
from catalog.subscriptions.models import SubscriptionCreate
from catalog.subscriptions.service import register
from catalog.subscriptions.storage import SubscriptionStorage
from ingest.dispatcher import Dispatcher, DispatcherConfig
from ingest.sinks.folder import FolderSink
from ingest.sinks.subscription import SubscriptionSinks
from ingest.sinks.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from nufair.app import create_app
from nufair.cli import main
from nufair.settings import Settings, hash_token
from tests.ingest.helpers import publish_config, publishing, reco_record

FAST = DispatcherConfig(poll_s=0.05, batch=50, lease_s=30.0, backoff_base_s=0.01,
                        backoff_max_s=0.05)


class Hook:
    """A webhook receiver on loopback recording every request; fails the first ``fail``."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.fail = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if outer.fail > 0:
                    outer.fail -= 1
                    status = 503
                else:
                    outer.got.append((dict(self.headers), body))
                    status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def _cone(name: str, ra: float, dec: float, r: float, sink: dict[str, str]) -> SubscriptionCreate:
    return SubscriptionCreate.model_validate({
        "name": name, "footprint": {"cone": {"ra": ra, "dec": dec, "radius": r}},
        "sink": sink})


def test_webhook_folder_order_and_refusals(storage: CatalogStorage, tmp_path: Path,
                                           hook: Hook) -> None:
    subs = SubscriptionStorage(storage.engine)
    near = register(subs, _cone("near", 143.0, 3.7, 5.0, {"webhook_url": hook.url}), "me")
    folder = register(subs, _cone("folder", 143.0, 3.7, 5.0, {"configured": "folder"}), "me")
    far = register(subs, _cone("far", 300.0, -40.0, 5.0, {"webhook_url": hook.url}), "me")
    gone = register(subs, _cone("gone", 143.0, 3.7, 5.0, {"webhook_url": hook.url}), "me")
    publisher, outbox = publishing(storage, publish_config(("folder", ("gcn-json",))))
    publisher.publish([reco_record()])
    publisher.publish([reco_record(number=1, ra=143.5, dec=3.9)])
    subs.delete(gone.id, "me")
    hook.fail = 1  # revision 0's first attempt fails: revision 1 must still come after it
    configured = [FolderSink(tmp_path / "out", formats=("gcn-json",))]
    d = Dispatcher(outbox, configured, FAST,
                   SubscriptionSinks(subs, configured, allow_private=True))
    for _ in range(20):
        d.drain(5)
        if not any(n.status == "pending" and n.sink != f"sub:{gone.id}"
                   for n in outbox.notices_of()):
            break
    d.stop()
    bodies = [json.loads(b) for _, b in hook.got]
    assert [(b["subscription"]["id"], b["alert"]["revision"]) for b in bodies] == [
        (near.id, 0), (near.id, 1)]
    assert near.secret is not None
    for headers, body in hook.got:
        assert verify_signature(near.secret.encode(), headers[TIMESTAMP_HEADER],
                                headers["Idempotency-Key"], body, headers[SIGNATURE_HEADER])
    env = bodies[0]
    assert env["notice"]["format"] == "gcn-json" and env["notice"]["body"]["id"] == [
        "134191_17593623"]
    assert 0 < env["overlap"]["fraction"] <= 1 and env["overlap"]["fraction_of"] == "area"
    files = sorted(p.name for p in (tmp_path / "out" / "gcn-json").iterdir())
    assert [f for f in files if f.startswith(f"sub{folder.id}_")] and len(files) == 4
    assert not any(n.sink == f"sub:{far.id}" for n in outbox.notices_of())
    # A deleted subscription's notices are refused for good (410, a permanent 4xx): the
    # dispatcher gives them up at once instead of retrying.
    gave_up = [n for n in outbox.notices_of() if n.sink == f"sub:{gone.id}"]
    assert gave_up and all(n.status == "failed" and n.failed_reason for n in gave_up)
    assert [a.status_code for a in outbox.attempts_of(gave_up[0].id)] == [410]


def test_private_hosts_refused_and_test_fire(storage: CatalogStorage, hook: Hook) -> None:
    subs = SubscriptionStorage(storage.engine)
    sub = register(subs, _cone("x", 143.0, 3.7, 2.0, {"webhook_url": hook.url}), "me")
    publisher, outbox = publishing(storage, publish_config(("folder", ("gcn-json",))))
    publisher.publish([reco_record()])
    d = Dispatcher(outbox, [], FAST, SubscriptionSinks(subs, [], allow_private=False))
    (outcome,) = d.run_once()
    assert not outcome.ok and "not a public address" in outcome.detail and not hook.got
    fired = subs.test_fire(sub.id, "me")
    d = Dispatcher(outbox, [], FAST, SubscriptionSinks(subs, [], allow_private=True))
    d.drain(5)
    d.stop()
    keys = [h["Idempotency-Key"] for h, _ in hook.got]
    assert fired.idempotency_key in keys
    test_env = json.loads(hook.got[keys.index(fired.idempotency_key)][1])
    assert test_env["test"] is True and test_env["overlap"]["area_deg2"] > 0


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=SecretStr(db_url), data_dir=tmp_path,
                        environment="development",
                        tokens={hash_token("alice"): ["subscribe"],
                                hash_token("bob"): ["subscribe"],
                                hash_token("ingestor"): ["ingest"]})
    with TestClient(create_app(settings)) as c:
        yield c


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_create_list_pause_resume_delete(api: TestClient) -> None:
    body = {"name": "wide field", "footprint": {"fields": [
        {"ra": 10, "dec": 20, "radius": 2}, {"ra": 12, "dec": 21, "radius": 2}]},
        "streams": ["gold"], "sink": {"webhook_url": "https://example.org/hook"}}
    r = api.post("/api/v1/subscriptions", json=body, headers=_as("alice"))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["secret"] and made["footprint_kind"] == "fields" and made["area_deg2"] > 12
    pk = made["id"]
    listed = api.get("/api/v1/subscriptions", headers=_as("alice")).json()["subscriptions"]
    assert [s["id"] for s in listed] == [pk] and "secret" not in listed[0]
    assert api.get("/api/v1/subscriptions", headers=_as("bob")).json()["subscriptions"] == []
    assert api.get(f"/api/v1/subscriptions/{pk}", headers=_as("bob")).status_code == 404
    assert api.post("/api/v1/subscriptions", json=body,
                    headers=_as("ingestor")).status_code == 403
    assert api.get("/api/v1/subscriptions").status_code == 401
    r = api.post(f"/api/v1/subscriptions/{pk}/pause", headers=_as("alice"))
    assert r.json()["state"] == "paused"
    r = api.post(f"/api/v1/subscriptions/{pk}/resume", headers=_as("alice"))
    assert r.json()["state"] == "active"
    r = api.post(f"/api/v1/subscriptions/{pk}/test", headers=_as("alice"))
    assert r.status_code == 409  # nothing published yet to test with
    assert api.delete(f"/api/v1/subscriptions/{pk}", headers=_as("alice")).status_code == 204
    assert api.get(f"/api/v1/subscriptions/{pk}", headers=_as("alice")).status_code == 404


@pytest.mark.parametrize("footprint", [
    {"moc": "not a moc"}, {"moc": "3/"}, {"moc_fits_base64": "!!"},
    {"cone": {"ra": 10, "dec": 100, "radius": 1}}, {}, {"moc": "3/1", "cone": None,
                                                        "fields": []}])
def test_api_refuses_bad_footprints(api: TestClient, footprint: dict[str, Any]) -> None:
    body = {"name": "x", "footprint": footprint, "sink": {"configured": "folder"}}
    r = api.post("/api/v1/subscriptions", json=body, headers=_as("alice"))
    assert r.status_code == 422, r.text


def test_api_refuses_bad_sinks(api: TestClient) -> None:
    for sink in ({"webhook_url": "ftp://x/y"}, {"webhook_url": "https://u:p@x/"},
                 {"configured": "nowhere"}, {}):
        body = {"name": "x", "footprint": {"cone": {"ra": 1, "dec": 1, "radius": 1}},
                "sink": sink}
        r = api.post("/api/v1/subscriptions", json=body, headers=_as("alice"))
        assert r.status_code == 422, (sink, r.text)


def test_cli(db_url: str, tmp_path: Path) -> None:
    moc = tmp_path / "survey.txt"
    moc.write_text("3/10-20 4/400")
    env = {"NUFAIR_DATABASE_URL": db_url, "NUFAIR_DATA_DIR": str(tmp_path)}
    run = CliRunner().invoke
    made = run(main, ["subscriptions", "create", "--name", "s", "--moc", str(moc),
                      "--sink", "folder"], env=env)
    assert made.exit_code == 0, made.output
    pk = json.loads(made.stdout)["id"]
    cone = run(main, ["subscriptions", "create", "--name", "c", "--cone", "1", "2", "3",
                      "--webhook", "https://example.org/h", "--stream", "gold"], env=env)
    assert cone.exit_code == 0 and json.loads(cone.stdout)["secret"]
    listed = run(main, ["subscriptions", "list"], env=env)
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["s", "c"]
    assert json.loads(run(main, ["subscriptions", "pause", str(pk)], env=env).stdout)[
        "state"] == "paused"
    assert run(main, ["subscriptions", "delete", str(pk)], env=env).exit_code == 0
    listed = run(main, ["subscriptions", "list"], env=env)
    assert len(listed.stdout.splitlines()) == 1
