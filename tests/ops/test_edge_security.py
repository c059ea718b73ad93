"""Security issue #12 at the HTTP edge: the error contract, input hygiene, tokens, headers,
CORS, authentication before the body, Host-safe redirects, /healthz and the paged catalog.

Each test reproduces one finding of the issue against the real app on PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree
from pydantic import SecretStr, ValidationError
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, XSD

from catalog.fair.dcat import DCAT3
from nufair.app import create_app
from nufair.context import NufairApp
from nufair.settings import DEV_TOKEN, Settings, hash_token
from nufair.tokens import DevTokenRefused, TokenTable
from tests.catalog.fair.conftest import SCHEMAS, seed_records

OAI = "{http://www.openarchives.org/OAI/2.0/}"
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
DEV = {"Authorization": f"Bearer {DEV_TOKEN}"}
BIG = "9" * 20  # > 2**63: a bigint overflow in PostgreSQL

#: Requests that answered 500 before (issue #12, item 5), each with the shape it must get.
#: "json": {"error": {...}} 4xx; "vo": VOTable QUERY_STATUS=ERROR 4xx; "oai": badArgument.
HOSTILE = [
    (f"/api/v1/artifacts/{BIG}", "json"),
    ("/api/v1/artifacts/9223372036854775808", "json"),
    ("/api/v1/artifacts/0", "json"),
    (f"/api/v1/scans/{BIG}", "json"),
    ("/api/v1/scans/9223372036854775808/status", "json"),
    ("/api/v1/scans/9223372036854775808/progress", "json"),
    ("/api/v1/scans/9223372036854775808/result", "json"),
    (f"/api/v1/scans?run_id={BIG}", "json"),
    ("/records/a%00b", "json"),
    ("/records/a%00b/export/json-ld", "json"),
    ("/records/a%00b/export/datacite-xml", "json"),
    ("/records/a%00b/linkset", "json"),
    ("/records/a%00b/skyplot.svg", "json"),
    ("/records/a%00b/files/x", "json"),
    ("/records/a%01b", "json"),
    ("/doi/10.5072/a%00b", "json"),
    ("/api/v1/events/a%00b/notices", "json"),
    ("/?name=%00", "json"),
    ("/?since=%00", "json"),
    ("/api/v1/events?name=a%00", "json"),
    ("/tap/async/%00", "vo"),
    ("/scs?RA=1&DEC=1&SR=%00", "scs"),
    ("/datalink?ID=%00", "vo"),
    ("/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=a%00b", "oai"),
    ("/oai?verb=ListRecords&resumptionToken=%00", "oai"),
    ("/oai?verb=ListRecords&metadataPrefix=oai_dc&set=%00", "oai"),
    ("/oai?verb=ListRecords&metadataPrefix=oai_dc&from=%01", "oai"),
    ("/oai?verb=ListIdentifiers&metadataPrefix=oai_dc&until=2020-01-01%0A", "oai"),
    ("/oai?verb=ListMetadataFormats&identifier=oai:testserver:%00", "oai"),
    ("/oai?verb=Identify&x%00=1", "oai"),
]


@pytest.fixture(scope="module")
def oai_xsd() -> xmlschema.XMLSchema:
    """The OAI-PMH 2.0 XML schema."""
    return xmlschema.XMLSchema(str(SCHEMAS / "oai-pmh" / "OAI-PMH.xsd"))


@pytest.fixture
def seeded_client(client: TestClient) -> TestClient:
    """The app with three alerts (one revised, one retracted), DOIs minted on import."""
    app = client.app
    assert isinstance(app, NufairApp)
    app.catalog_context.storage.import_records(seed_records())
    return client


# ------------------------------------------------------------------ error contract

def test_hostile_input_gets_a_4xx_in_the_right_shape(client: TestClient,
                                                     oai_xsd: xmlschema.XMLSchema) -> None:
    """Every request of the issue's list: no server error, and the path's error shape."""
    wrong = []
    for url, shape in HOSTILE:
        r = client.get(url)  # a server error would raise here (raise_server_exceptions)
        ctype = r.headers.get("content-type", "")
        if shape == "json":
            ok = (400 <= r.status_code < 500 and ctype.startswith("application/json")
                  and set(r.json()) == {"error"} and r.json()["error"]["code"])
        elif shape == "vo":
            ok = (400 <= r.status_code < 500 and ctype.startswith("application/x-votable+xml")
                  and 'name="QUERY_STATUS" value="ERROR"' in r.text)
        elif shape == "scs":  # SCS 1.03 answers errors with 200 and an error VOTable
            ok = (r.status_code == 200 and ctype.startswith("application/x-votable+xml")
                  and 'value="ERROR"' in r.text)
        else:  # OAI-PMH answers errors with 200 and an <error code="badArgument">
            oai_xsd.validate(r.content)
            error = etree.fromstring(r.content).find(f"{OAI}error")
            ok = r.status_code == 200 and error is not None and error.get("code") == "badArgument"
        if not ok:
            wrong.append((url, r.status_code, r.text[:200]))
    assert wrong == []


def test_hostile_json_bodies_get_a_4xx(seeded_client: TestClient) -> None:
    """NUL, a lone surrogate or nesting too deep in a JSON body, with a valid token."""
    c = seeded_client
    retract = "/api/v1/events/IceCube-200615A/retract"
    headers = {**DEV, "Content-Type": "application/json"}
    bodies = [(retract, b'{"reason": "bad\\u0000reason"}'),
              (retract, b'{"reason": "bad\\ud800reason"}'),
              ("/api/v1/scans", b'{"event": "IceCube-\\u0000"}'),
              ("/api/v1/scans", b'{"event": "\\udfff"}'),
              ("/api/v1/scans", b"[" * 100_000 + b"]" * 100_000)]
    for url, body in bodies:
        r = c.post(url, content=body, headers=headers)
        assert 400 <= r.status_code < 500, (url, body[:40], r.status_code, r.text[:200])
        assert r.json()["error"]["code"], r.text
    assert c.get("/api/v1/events/IceCube-200615A").json()["retracted"] is False


def test_oai_resumption_token_with_wrong_types_is_bad(client: TestClient,
                                                       oai_xsd: xmlschema.XMLSchema) -> None:
    """A well-formed token with a list where a string belongs: badResumptionToken, not 500."""
    for query in ({"p": "oai_dc", "f": None, "u": None, "s": ["x"], "a": None, "n": 0},
                  {"p": "oai_dc", "f": 5, "u": None, "s": None, "a": None, "n": 0},
                  {"p": "oai_dc", "f": None, "u": None, "s": None, "a": ["2020", BIG], "n": 0}):
        token = base64.urlsafe_b64encode(json.dumps(query).encode()).decode().rstrip("=")
        r = client.get("/oai", params={"verb": "ListRecords", "resumptionToken": token})
        oai_xsd.validate(r.content)
        assert etree.fromstring(r.content).find(f"{OAI}error").get("code") == \
            "badResumptionToken"


def test_unexpected_errors_are_json_500s(settings: Settings) -> None:
    """Unexpected errors are JSON 500s."""
    app = create_app(settings)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/tap/boom")
    def vo_boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/boom")
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "internal_error"
        assert "a bug" not in r.text  # no internals in the answer
        r = c.get("/tap/boom")
        assert r.status_code == 500 and 'value="ERROR"' in r.text
        for url in ("/no/such/page", "/oai/nope"):
            r = c.get(url)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = c.put("/oai")
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
        assert "GET" in r.headers["allow"]


# ----------------------------------------------------------------------------- tokens

def _db_settings(settings: Settings, **kw: object) -> Settings:
    return Settings(database_url=settings.database_url, data_dir=settings.data_dir,
                    **kw)  # type: ignore[arg-type]


def test_production_refuses_a_tokens_file_with_the_dev_token(settings: Settings,
                                                            tmp_path: Path) -> None:
    """Production refuses a tokens file with the dev token."""
    f = tmp_path / "tokens.json"
    f.write_text(json.dumps({hash_token(DEV_TOKEN): ["admin"]}))
    prod = _db_settings(settings, environment="production", tokens_file=f)
    with pytest.raises(DevTokenRefused, match="development token"):
        create_app(prod)
    # A rotation that brings it in later is refused too: the previous table stays.
    f.write_text(json.dumps({hash_token("ops"): ["admin"]}))
    table = TokenTable(prod)
    assert set(table()) == {hash_token("ops")}
    f.write_text(json.dumps({hash_token(DEV_TOKEN): ["admin"], hash_token("x"): ["ingest"]}))
    os.utime(f, ns=(1, 10**18))
    assert set(table()) == {hash_token("ops")}
    assert table.last_error is not None and "development token" in table.last_error


def test_dev_token_is_ignored_once_tokens_are_configured(settings: Settings,
                                                         tmp_path: Path) -> None:
    """Dev token is ignored once tokens are configured."""
    f = tmp_path / "tokens.json"
    f.write_text(json.dumps({hash_token("ops"): ["admin"], hash_token(DEV_TOKEN): ["admin"]}))
    dev_file = _db_settings(settings, environment="development", tokens_file=f)
    assert hash_token(DEV_TOKEN) not in TokenTable(dev_file)()
    with TestClient(create_app(dev_file)) as c:
        url = "/api/v1/admin/import"
        assert c.post(url, content=b"x", headers=DEV).status_code == 401
        assert c.post(url, content=b"x",
                      headers={"Authorization": "Bearer ops"}).status_code == 415
    env = _db_settings(settings, tokens={hash_token("ops"): ["admin"]})
    assert hash_token(DEV_TOKEN) not in env.token_scopes()
    assert hash_token(DEV_TOKEN) in _db_settings(settings).token_scopes()  # none configured


def test_production_refuses_empty_secrets() -> None:
    """Production refuses empty secrets."""
    with pytest.raises(ValidationError, match="NUFAIR_WEBHOOK_SECRET"):
        Settings(environment="production", sinks=["webhook"],
                 webhook_url="https://hooks.example/x")
    with pytest.raises(ValidationError, match="NUFAIR_DATACITE_PASSWORD"):
        Settings(environment="production", pid_provider="datacite", datacite_user="X.Y")
    with pytest.raises(ValidationError, match="NUFAIR_GCN_KAFKA_CLIENT_SECRET"):
        Settings(environment="production", sinks=["gcn-kafka"], gcn_kafka_client_id="id")
    ok = Settings(environment="production", sinks=["webhook"],
                  webhook_url="https://hooks.example/x", webhook_secret=SecretStr("s3cret"))
    assert ok.webhook_secret.get_secret_value() == "s3cret"
    Settings(environment="development", sinks=["webhook"])  # development stays lenient


# ------------------------------------------------------------------- HTTP hygiene

def test_security_headers_and_csp(seeded_client: TestClient) -> None:
    """Every answer carries the security headers, and pages a CSP."""
    for url in ("/", "/records/IceCube-200615A", "/api/v1/events", "/tap/capabilities"):
        r = seeded_client.get(url)
        assert r.status_code == 200, url
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    page = seeded_client.get("/records/IceCube-200615A")
    csp = page.headers["content-security-policy"]
    # Scripts only from this service (the interactive sky), never inline.
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    # The page's own inline <style> is allowed by its hash, and nothing else inline.
    css = re.search(r"<style>(.*?)</style>", page.text, re.S).group(1)  # type: ignore[union-attr]
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp and "unsafe-inline" not in csp
    assert 'type="application/ld+json"' in page.text  # data, not script: fine under CSP
    assert "content-security-policy" not in seeded_client.get("/api/v1/events").headers


def test_cors_preflight_is_answered(client: TestClient) -> None:
    """CORS preflights are answered."""
    for url, method in (("/api/v1/events", "GET"), ("/tap/sync", "POST"),
                        ("/api/v1/admin/import", "POST")):
        r = client.options(url, headers={"Origin": "https://viewer.example",
                                         "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": "authorization"})
        assert r.status_code in (200, 204), (url, r.status_code, r.text)
        assert r.headers["access-control-allow-origin"] == "*"
        assert method in r.headers["access-control-allow-methods"]
    r = client.get("/api/v1/events", headers={"Origin": "https://viewer.example"})
    assert r.headers["access-control-allow-origin"] == "*"


def test_cors_origins_setting(settings: Settings) -> None:
    """``cors_origins`` limits the origins CORS allows."""
    app = create_app(_db_settings(settings, cors_origins=["https://ok.example"]))
    with TestClient(app) as c:
        def preflight(origin: str) -> int:
            return c.options("/api/v1/events", headers={
                "Origin": origin, "Access-Control-Request-Method": "GET"}).status_code

        assert preflight("https://ok.example") == 200
        assert preflight("https://evil.example") == 400


def test_401_carries_www_authenticate(settings: Settings) -> None:
    """401 and 403 carry ``WWW-Authenticate``."""
    tokens = {hash_token("reader"): ["ingest"]}
    with TestClient(create_app(_db_settings(settings, tokens=tokens))) as c:
        r = c.post("/api/v1/admin/import", content=b"x")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        r = c.post("/api/v1/admin/import", content=b"x", headers={"Authorization": "Bearer no"})
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
        r = c.post("/api/v1/admin/import", content=b"x",
                   headers={"Authorization": "Bearer reader"})
        assert r.status_code == 403
        assert 'error="insufficient_scope"' in r.headers["www-authenticate"]


def test_authentication_before_the_body_is_parsed(client: TestClient) -> None:
    """Malformed JSON without a token: 401 (not 422) on every scoped write endpoint."""
    bad = {"Content-Type": "application/json"}
    writes = [("POST", "/api/v1/events/raw"), ("POST", "/api/v1/events/x/retract"),
              ("POST", "/api/v1/scans"), ("POST", "/api/v1/scans/1/rescan"),
              ("DELETE", "/api/v1/scans/1"), ("POST", "/api/v1/admin/import")]
    for method, url in writes:
        r = client.request(method, url, content=b"{not json", headers=bad)
        assert r.status_code == 401, (url, r.status_code, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
    # With the token the body is parsed as before.
    r = client.post("/api/v1/scans", content=b"{not json", headers={**bad, **DEV})
    assert r.status_code == 422


def test_every_scoped_write_route_is_guarded_before_the_body(client: TestClient) -> None:
    """The middleware knows every route with a scope dependency (none is missed)."""
    from nufair.edge.routes import route_entries, scoped_routes

    app: FastAPI = client.app  # type: ignore[assignment]
    guarded = {(m.path, verb) for m, _ in scoped_routes(app.routes) for verb in m.methods}
    writes = {(m.path, verb) for m, _ in route_entries(app.routes) for verb in m.methods
              if verb in ("POST", "PUT", "PATCH", "DELETE") and m.path.startswith("/api/v1")}
    assert writes and writes <= guarded


def test_redirects_ignore_the_host_header(client: TestClient, settings: Settings) -> None:
    """Redirects ignore the host header."""
    for url in ("/tap/", "/api/v1/events/"):
        r = client.get(url, headers={"Host": "evil.example"}, follow_redirects=False)
        assert 300 <= r.status_code < 400, (url, r.status_code)
        location = r.headers["location"]
        assert location.startswith(settings.public_base_url), location
        assert "evil.example" not in location


# ------------------------------------------------------------------ paged DCAT catalog

def test_catalog_is_paged_with_hydra_links(seeded_client: TestClient,
                                           settings: Settings) -> None:
    """The DCAT catalog is paged, with Hydra links."""
    base = settings.public_base_url.rstrip("/") + "/catalog"
    first = seeded_client.get("/catalog", params={"limit": 2})
    assert first.status_code == 200
    g = Graph().parse(data=first.text, format="turtle")
    page1 = URIRef(f"{base}?page=1&limit=2")
    assert (page1, RDF.type, HYDRA.PagedCollection) in g
    assert g.value(page1, HYDRA.totalItems) == Literal(3, datatype=XSD.nonNegativeInteger)
    nxt = str(g.value(page1, HYDRA.nextPage))  # the next page, read after this one's last
    assert nxt.startswith(f"{base}?page=2&limit=2&after=")
    concepts = set(g.objects(URIRef(base), DCAT3.dataset))
    assert len(concepts) == 1 + 2  # the series and this page's two alerts
    assert 'rel="next"' in first.headers["link"]
    second = Graph().parse(data=seeded_client.get("/catalog?page=2&limit=2").text,
                           format="turtle")
    assert len(set(second.objects(URIRef(base), DCAT3.dataset))) == 1 + 1
    assert second.value(URIRef(f"{base}?page=2&limit=2"), HYDRA.nextPage) is None
    assert seeded_client.get("/catalog?page=3&limit=2").status_code == 404
    assert seeded_client.get("/catalog?page=0").status_code == 422


def test_catalog_builds_are_capped(seeded_client: TestClient) -> None:
    """Catalog builds beyond the gate's limit are refused."""
    app: NufairApp = seeded_client.app  # type: ignore[assignment]
    gate = app.catalog_context.gate
    gate.active = gate.limit  # every slot taken by builds in flight
    try:
        r = seeded_client.get("/catalog")
    finally:
        gate.active = 0
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.json()["error"]["code"] == "busy"
    assert seeded_client.get("/catalog").status_code == 200


def test_catalog_page_is_built_off_the_event_loop(seeded_client: TestClient,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalog page is read and written in a worker thread (one database read and a few
    milliseconds of writing, issue 17): never on the event loop."""
    from catalog.fair import browse

    threads: list[str] = []
    read = browse.read_catalog_page

    def spy(*args: Any, **kw: Any) -> browse.CatalogPage:
        threads.append(threading.current_thread().name)
        return read(*args, **kw)

    monkeypatch.setattr(browse, "read_catalog_page", spy)
    r = seeded_client.get("/catalog")
    assert r.status_code == 200 and "dcat:Catalog" in r.text
    loop_thread = seeded_client.portal.call(_thread_name)  # type: ignore[union-attr]
    assert threads and threads[0] != loop_thread


async def _thread_name() -> str:
    return threading.current_thread().name
