"""Health, readiness, metrics and token handling of the running app."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from catalog.notices.parsed import Source
from catalog.storage.events import CatalogStorage
from nufair.app import create_app
from nufair.settings import Settings, hash_token
from tests.catalog.records_factory import record


def test_metrics_count_stored_facts(client: TestClient, storage: CatalogStorage) -> None:
    """Metrics count stored facts."""
    storage.import_records([record(rev=0), record(rev=1, ra=142.9499, dec=3.66),
                            record(run=7, event=7, rev=None, source=Source.ICECAT1,
                                   key="icecat-1:7:7")])
    lines = client.get("/metrics").text.splitlines()
    assert 'nufair_ingested_revisions_total{source="gcn-voevent"} 2.0' in lines
    assert 'nufair_ingested_revisions_total{source="icecat-1"} 1.0' in lines
    assert 'nufair_scan_queue_depth{lane="realtime"} 0.0' in lines


def test_health_ready_and_metrics(client: TestClient) -> None:
    """``/healthz``, ``/readyz`` and ``/metrics`` answer."""
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    client.get("/api/v1/events/nope")
    text = client.get("/metrics").text
    line = next(ln for ln in text.splitlines() if ln.startswith("nufair_http_requests_total{")
                and 'route="/api/v1/events/{key}"' in ln and 'status="404"' in ln)
    assert line.endswith(" 1.0")


def _settings(db_url: str, **kw: object) -> Settings:
    return Settings(database_url=SecretStr(db_url), **kw)  # type: ignore[arg-type]


def test_scopes_401_and_403(db_url: str) -> None:
    """Writes without a token get 401, with a token lacking the scope 403."""
    tokens = {hash_token("reader-ingest"): ["ingest"], hash_token("boss"): ["admin"]}
    with TestClient(create_app(_settings(db_url, tokens=tokens))) as c:
        url = "/api/v1/admin/import"
        assert c.post(url, content=b"x").status_code == 401
        assert c.post(url, content=b"x",
                      headers={"Authorization": "Bearer nufair-dev-token"}).status_code == 401
        r = c.post(url, content=b"x", headers={"Authorization": "Bearer reader-ingest"})
        assert r.status_code == 403 and r.json()["error"]["details"]["required_scope"] == "admin"
        r = c.post(url, content=b"x", headers={"Authorization": "Bearer boss"})
        assert r.status_code == 415  # authorised; the body is simply not a notice


def test_tokens_rotate_without_restart(db_url: str, tmp_path: Path) -> None:
    """Tokens rotate without restart."""
    f = tmp_path / "tokens.json"
    f.write_text(json.dumps({hash_token("old"): ["admin"]}))
    with TestClient(create_app(_settings(db_url, tokens_file=f, tokens={
            hash_token("static"): ["ingest"]}))) as c:
        def status(token: str) -> int:
            return c.post("/api/v1/admin/import", content=b"x",
                          headers={"Authorization": f"Bearer {token}"}).status_code

        assert status("old") == 415 and status("new") == 401
        f.write_text(json.dumps({hash_token("new"): ["admin"]}))
        os.utime(f, ns=(1, 10**18))  # a new mtime even on coarse-timestamp file systems
        assert status("new") == 415 and status("old") == 401
        f.write_text("{not json")  # a broken rotation keeps the last good table
        os.utime(f, ns=(1, 2 * 10**18))
        assert status("new") == 415


def test_production_refuses_the_dev_token() -> None:
    """Production refuses the dev token."""
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="development token"):
        Settings(environment="production", tokens={hash_token("nufair-dev-token"): ["admin"]})
    assert Settings(environment="production").token_scopes() == {}
