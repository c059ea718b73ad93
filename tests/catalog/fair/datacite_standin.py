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
    user: str
    password: str
    prefix: str
    dois: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0


def _error(status: int, title: str) -> JSONResponse:
    return JSONResponse({"errors": [{"status": str(status), "title": title}]}, status)


def make_standin(state: StandIn) -> FastAPI:
    app = FastAPI()

    async def _check(request: Request) -> dict[str, Any] | JSONResponse:
        auth = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{state.user}:{state.password}".encode()).decode()
        if auth != f"Basic {expected}":
            return _error(401, "Bad credentials")
        if request.method in ("POST", "PUT"):
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
        return {}

    def _transition(doi: str, record: dict[str, Any], event: str | None) -> JSONResponse | None:
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

    @app.post("/dois")
    async def create(request: Request) -> Response:
        checked = await _check(request)
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
        problem = _transition(doi, record, event)
        if problem:
            return problem
        state.dois[doi] = record
        return JSONResponse({"data": {"id": doi, "type": "dois",
                                      "attributes": {**checked, "state": record["state"]}}},
                            201)

    @app.put("/dois/{prefix}/{suffix}")
    async def update(request: Request, prefix: str, suffix: str) -> Response:
        checked = await _check(request)
        if isinstance(checked, JSONResponse):
            return checked
        doi = f"{prefix}/{suffix}".lower()
        state.requests.append(("PUT", doi))
        if doi not in state.dois:
            return _error(404, "DOI not found")
        record = state.dois[doi]
        event = checked.pop("event", None)
        record["attributes"].update(checked)
        problem = _transition(doi, record, event)
        if problem:
            return problem
        return JSONResponse({"data": {"id": doi, "type": "dois",
                                      "attributes": {**record["attributes"],
                                                     "state": record["state"]}}})

    @app.delete("/dois/{prefix}/{suffix}")
    async def delete(request: Request, prefix: str, suffix: str) -> Response:
        checked = await _check(request)
        if isinstance(checked, JSONResponse):
            return checked
        doi = f"{prefix}/{suffix}".lower()
        if state.dois.get(doi, {}).get("state") != "draft":
            return _error(405, "only draft DOIs can be deleted")
        del state.dois[doi]
        return Response(status_code=204)

    return app
