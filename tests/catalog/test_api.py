"""REST API through the real app on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from fastapi.testclient import TestClient

from catalog.storage.events import CatalogStorage
from tests.catalog.records_factory import record


def _seed(storage: CatalogStorage) -> None:
    storage.import_records([
        record(rev=0, name="IceCube-200615A"),
        record(rev=1, ra=142.9499, dec=3.66),
        record(run=134207, event=33533447, rev=0, ra=162.11, dec=-8.57, name="IceCube-200620A"),
    ])


def test_event_detail_shows_each_revision(client: TestClient, storage: CatalogStorage) -> None:
    """Event detail shows each revision."""
    _seed(storage)
    r = client.get("/api/v1/events/IceCube-200615A")
    assert r.status_code == 200
    body = r.json()
    assert [(v["number"], v["ra"], v["dec"]) for v in body["revisions"]] == [
        (0, 143.4519, 3.7891), (1, 142.9499, 3.66)]
    assert body["current"]["number"] == 1
    one = client.get("/api/v1/events/IceCube-200615A/revisions/0").json()
    assert one["ra"] == 143.4519 and one["is_current"] is False


def test_list_filters(client: TestClient, storage: CatalogStorage) -> None:
    """The event list filters by cone, run and stream."""
    _seed(storage)
    names = {e["name"] for e in client.get("/api/v1/events").json()["items"]}
    assert names == {"IceCube-200615A", "IceCube-200620A"}
    r = client.get("/api/v1/events", params={"ra": 162, "dec": -8.5, "radius": 1})
    assert [e["name"] for e in r.json()["items"]] == ["IceCube-200620A"]
    r = client.get("/api/v1/events", params={"run_id": 134191})
    assert [e["name"] for e in r.json()["items"]] == ["IceCube-200615A"]
    assert client.get("/api/v1/events", params={"stream": "bronze"}).json()["items"] == []


class _Answer(Protocol):
    """What the assertions read of an answer (TestClient's responses have it)."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""

    @property
    def text(self) -> str:
        """The body as text."""

    def json(self) -> Any:
        """The body, decoded."""


def _assert_error(r: _Answer, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"]


def test_errors_have_one_shape(client: TestClient) -> None:
    """Errors have one shape."""
    _assert_error(client.get("/api/v1/events/IceCube-999999Z"), 404, "not_found")
    _assert_error(client.get("/api/v1/events", params={"stream": "platinum"}), 422,
                  "invalid_request")
    _assert_error(client.get("/api/v1/events", params={"ra": 10}), 422, "invalid_input")
    _assert_error(client.get("/api/v1/events", params={"cursor": "garbage!"}), 422,
                  "invalid_input")
    _assert_error(client.get("/api/v1/events", params={"since": "2020-01-01T00:00:00"}), 422,
                  "invalid_input")
    _assert_error(client.get("/api/v1/events", params={"dec": 95, "ra": 1, "radius": 1}), 422,
                  "invalid_request")


def test_writes_need_a_token(client: TestClient) -> None:
    """Writes need a token."""
    _assert_error(client.post("/api/v1/admin/import", content=b"<x/>"), 401, "unauthorized")
    _assert_error(client.post("/api/v1/admin/import", content=b"<x/>",
                              headers={"Authorization": "Bearer nope"}), 401, "unauthorized")


def test_body_over_the_limit_is_refused_declared_or_streamed(client: TestClient,
                                                             admin_headers: dict[str, str]
                                                             ) -> None:
    """Body over the limit is refused declared or streamed."""
    big = b"x" * (1024 * 1024 + 1)
    _assert_error(client.post("/api/v1/admin/import", content=big, headers=admin_headers),
                  413, "payload_too_large")

    def chunks() -> Iterator[bytes]:
        for _ in range(2 * 1024):
            yield b"y" * 1024

    _assert_error(client.post("/api/v1/admin/import", content=chunks(), headers=admin_headers),
                  413, "payload_too_large")


def test_openapi_is_served(client: TestClient) -> None:
    """The OpenAPI document and its docs page are served."""
    spec = client.get("/openapi.json").json()
    assert "/api/v1/events/{key}" in spec["paths"]
    assert client.get("/docs").status_code == 200
