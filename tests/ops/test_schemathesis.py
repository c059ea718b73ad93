"""Property-based requests generated from our OpenAPI document: never a server error, and
every answer as documented.

Schemathesis generates valid and invalid inputs for every operation, once with the admin
(development) token and once with no token at all. Every answer must be < 500, conform to
the documented status codes, content types, headers and response schemas, and, for errors,
carry the one error shape. Bounded (``MAX_EXAMPLES`` per operation and pass) for CI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nufair.app import create_app
from nufair.settings import DEV_TOKEN, Settings
from tests.catalog.records_factory import record

#: Examples per operation and pass: two passes over every operation stay well under 90 s.
MAX_EXAMPLES = 50
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture
def live_app(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings)
    with TestClient(app):  # runs the lifespan: engine, storage
        app.catalog_context.storage.import_records([record(rev=0, name="IceCube-200615A")])
        yield app


def _checker(operation: Any, headers: dict[str, str]) -> Callable[[], None]:
    """The property test of one operation: every generated request, every check."""
    checks: list[Any] = CHECKS  # the IVOA operations too: they document their media types

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case[Any]) -> None:
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.path, response.text)
        case.validate_response(response, checks=checks, headers=headers)
        if response.status_code < 400:
            return
        ctype = response.headers.get("content-type") or [""]  # header → list of values
        if ctype[0].startswith(("application/x-votable+xml", "text/xml")):
            # IVOA endpoints answer errors as VOTables with QUERY_STATUS=ERROR
            assert 'name="QUERY_STATUS" value="ERROR"' in response.text, case.path
        else:
            body = response.json()
            assert set(body) == {"error"} and body["error"]["code"], case.path
        if response.status_code == 401:
            assert response.headers.get("www-authenticate"), case.path

    return check


@pytest.mark.parametrize("token", [DEV_TOKEN, None], ids=["with-token", "without-token"])
def test_no_server_errors_and_no_schema_violations(live_app: FastAPI, token: str | None
                                                   ) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", live_app)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"invalid OpenAPI operation: {result}"
        operations.append(result.ok())
    assert len(operations) >= 5  # every documented operation is exercised
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for operation in operations:
        _checker(operation, headers)()
