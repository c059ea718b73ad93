"""A local stand-in for the DataCite REST API (the real one is unreachable from tests).

It enforces what DataCite documents for ``/dois``: HTTP Basic auth, JSON:API bodies
(``application/vnd.api+json``, ``{"data": {"attributes": {...}}}``), DOIs under the account's
prefix, the state machine draft → registered/findable (``event`` = publish, register, hide;
no way back to draft; only drafts can be deleted) and, before a DOI leaves draft, the
mandatory metadata and a URL. Attributes are checked against the DataCite JSON schema.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from datacite import schema45
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

MANDATORY = ("creators", "titles", "publisher", "publicationYear", "types")


@dataclass
class StandIn:
    """What the stand-in holds and has seen.

    The account (``user``, ``password``, DOI ``prefix``); the DOIs, each with its ``state``
    and ``attributes``; every POST and PUT as (method, DOI); and ``fail_next``, the number of
    coming creations to answer with a 500.
    """

    user: str
    password: str
    prefix: str
    dois: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0


def _error(status: int, title: str) -> JSONResponse:
    return JSONResponse({"errors": [{"status": str(status), "title": title}]}, status)


async def _checked(state: StandIn, request: Request) -> dict[str, Any] | JSONResponse:
    """The request's attributes ({} for one without a body) once its credentials pass,
    else DataCite's 401."""
    auth = request.headers.get("authorization", "")
    expected = base64.b64encode(f"{state.user}:{state.password}".encode()).decode()
    if auth != f"Basic {expected}":
        return _error(401, "Bad credentials")
    if request.method in ("POST", "PUT"):
        return await _attributes(request)
    return {}


async def _attributes(request: Request) -> dict[str, Any] | JSONResponse:
    """The JSON:API body's attributes, or the error DataCite answers for a wrong content
    type (415), a wrong shape (400) or attributes against its schema (422)."""
    if request.headers.get("content-type") != "application/vnd.api+json":
        return _error(415, "content type must be application/vnd.api+json")
    try:
        body = json.loads(await request.body())
        attributes = body["data"]["attributes"]
        assert isinstance(attributes, dict)
    except (ValueError, KeyError, TypeError, AssertionError):
        return _error(400, "body must be {data: {attributes: {...}}}")
    # Every attribute sent must follow the schema; which ones are mandatory is
    # checked when the DOI leaves draft (an update may send a single attribute).
    doc = {**attributes, "schemaVersion": "http://datacite.org/schema/kernel-4"}
    problems = [e for e in schema45.validator.iter_errors(doc)
                if not (e.validator == "required" and not list(e.path))]
    if problems:
        return _error(422, "attributes do not follow the DataCite JSON schema")
    return attributes


def _transition(record: dict[str, Any], event: str | None) -> JSONResponse | None:
    """Move ``record`` to the state ``event`` leads to; the 422 DataCite answers when the
    move is not allowed (unknown event, hiding a DOI not findable, metadata or URL missing)."""
    current = record["state"]
    if event is None:
        return None
    target = {"publish": "findable", "register": "registered", "hide": "registered"}.get(event)
    if target is None:
        return _error(422, f"unknown event {event}")
    if event == "hide" and current != "findable":
        return _error(422, "only a findable DOI can be hidden")
    if target != "draft":
        missing = [k for k in MANDATORY if not record["attributes"].get(k)]
        if missing or not record["attributes"].get("url"):
            return _error(422, f"cannot leave draft without {missing or ['url']}")
    record["state"] = target
    return None


class _Routes:
    """The ``/dois`` endpoints over one :class:`StandIn`."""

    def __init__(self, state: StandIn) -> None:
        self.state = state

    async def create(self, request: Request) -> Response:
        """POST /dois: a new DOI under the prefix, a draft unless ``event`` moves it."""
        state = self.state
        checked = await _checked(state, request)
        if isinstance(checked, JSONResponse):
            return checked
        state.requests.append(("POST", checked.get("doi", "")))
        if state.fail_next:
            state.fail_next -= 1
            return _error(500, "temporary failure")
        doi = str(checked.get("doi", "")).lower()
        if not doi.startswith(state.prefix + "/"):
            return _error(422, "DOI not under this account's prefix")
        if doi in state.dois:
            return _error(422, "This DOI has already been taken")
        event = checked.pop("event", None)
        record = {"state": "draft", "attributes": checked}
        problem = _transition(record, event)
        if problem:
            return problem
        state.dois[doi] = record
        return JSONResponse({"data": {"id": doi, "type": "dois",
                                      "attributes": {**checked, "state": record["state"]}}},
                            201)

    async def update(self, request: Request, prefix: str, suffix: str) -> Response:
        """PUT /dois/{doi}: merge the attributes sent, then apply ``event`` if any."""
        state = self.state
        checked = await _checked(state, request)
        if isinstance(checked, JSONResponse):
            return checked
        doi = f"{prefix}/{suffix}".lower()
        state.requests.append(("PUT", doi))
        if doi not in state.dois:
            return _error(404, "DOI not found")
        record = state.dois[doi]
        event = checked.pop("event", None)
        record["attributes"].update(checked)
        problem = _transition(record, event)
        if problem:
            return problem
        return JSONResponse({"data": {"id": doi, "type": "dois",
                                      "attributes": {**record["attributes"],
                                                     "state": record["state"]}}})

    async def delete(self, request: Request, prefix: str, suffix: str) -> Response:
        """DELETE /dois/{doi}: drafts only."""
        state = self.state
        checked = await _checked(state, request)
        if isinstance(checked, JSONResponse):
            return checked
        doi = f"{prefix}/{suffix}".lower()
        if state.dois.get(doi, {}).get("state") != "draft":
            return _error(405, "only draft DOIs can be deleted")
        del state.dois[doi]
        return Response(status_code=204)


def make_standin(state: StandIn) -> FastAPI:
    """The stand-in app: DataCite's ``/dois`` (create, update, delete) over ``state``."""
    app = FastAPI()
    routes = _Routes(state)
    app.post("/dois")(routes.create)
    app.put("/dois/{prefix}/{suffix}")(routes.update)
    app.delete("/dois/{prefix}/{suffix}")(routes.delete)
    return app
