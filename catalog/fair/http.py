"""HTTP helpers of the FAIR endpoints: the shared context, content negotiation, digests."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from catalog.errors import NufairError
from catalog.fair.config import FairConfig
from catalog.fair.records import RecordService
from catalog.handlers.context import catalog_context
from catalog.storage.fair import FairStorage

#: The page templates (their inline styles are hashed into the pages' CSP).
TEMPLATES_DIR = Path(__file__).parent / "templates"
TEMPLATES = Jinja2Templates(directory=str(TEMPLATES_DIR))


class NotAcceptable(NufairError):
    """No representation matches the request's ``Accept`` header."""

    code = "not_acceptable"
    status = 406


@dataclass(frozen=True, slots=True)
class FairContext:
    """What the FAIR handlers need: configuration, storage, records, the artifact root
    (relative storage URLs) and other local folders whose files may be served."""

    cfg: FairConfig
    fair: FairStorage
    records: RecordService
    artifact_root: Path
    extra_roots: tuple[Path, ...] = ()


def get_fair(request: Request) -> FairContext:
    """A FastAPI dependency: the FAIR context, from the catalog's context."""
    return catalog_context(request).fair


def _parse_accept(accept: str) -> list[tuple[str, float, int]]:
    out = []
    for i, item in enumerate(accept.split(",")):
        fields = [f.strip() for f in item.split(";")]
        if not fields[0]:
            continue
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        out.append((fields[0].lower(), q, i))
    return out


def negotiate(accept: str | None, offers: list[str]) -> str:
    """The offer the ``Accept`` header prefers (the first offer when there is no header).

    Exact types beat ``type/*`` beat ``*/*``; ties go to the order of ``offers``. Raises
    :class:`NotAcceptable` when nothing matches.
    """
    if not accept:
        return offers[0]
    best: tuple[float, int, int, int] | None = None
    choice = None
    for rank, offer in enumerate(offers):
        main = offer.split("/")[0]
        for media, q, _ in _parse_accept(accept):
            if media == offer:
                spec = 3
            elif media == f"{main}/*":
                spec = 2
            elif media == "*/*":
                spec = 1
            else:
                continue
            if q <= 0:
                continue
            key = (q, spec, -rank, 0)
            if best is None or key > best:
                best, choice = key, offer
    if choice is None:
        raise NotAcceptable(f"none of {', '.join(offers)} is acceptable",
                            details={"available": offers})
    return choice


def accept_param(accept: str | None, media: str, name: str) -> str | None:
    """The parameter ``name`` of the ``media`` entry of an ``Accept`` header, if given
    (``text/x-bibliography; style=apa`` → ``apa``)."""
    for item in (accept or "").split(","):
        fields = [f.strip() for f in item.split(";")]
        if fields[0].lower() != media:
            continue
        for f in fields[1:]:
            key, _, value = f.partition("=")
            if key.strip().lower() == name:
                return value.strip().strip('"')
    return None


def content_digest(body: bytes) -> str:
    """RFC 9530 ``Content-Digest`` value (SHA-256) of a body."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def digest_from_hex(sha256_hex: str) -> str:
    """RFC 9530 ``Content-Digest`` value of a stored SHA-256 (hex)."""
    return "sha-256=:" + base64.b64encode(bytes.fromhex(sha256_hex)).decode() + ":"


#: Titles of the HTML error pages by status.
_TITLES = {404: "Not found", 406: "Not acceptable", 422: "Invalid request",
           503: "Busy, try again shortly"}


def wants_html(request: Request) -> bool:
    """Whether the client prefers HTML to JSON (a browser), by its ``Accept`` header."""
    try:
        return negotiate(request.headers.get("accept"),
                         ["application/json", "text/html"]) == "text/html"
    except NotAcceptable:
        return False


def html_error(request: Request, status: int, code: str, message: str,
               headers: dict[str, str] | None = None) -> Response:
    """The HTML error page of a refusal, for browsers."""
    links = []
    key = request.path_params.get("key") or request.path_params.get("suffix")
    if isinstance(key, str) and request.url.path.startswith(("/records/", "/doi/")):
        links.append((f"Search the archive for “{key}”", f"/?{urlencode({'name': key})}"))
        if "filename" in request.path_params:
            links.append(("The record's landing page", f"/records/{quote(key, safe='')}"))
    response = TEMPLATES.TemplateResponse(
        request, "error.html", {"status": status, "code": code, "message": message,
                                "title": _TITLES.get(status, "Error"), "links": links},
        status_code=status, headers=headers)
    response.headers["Vary"] = "Accept"
    return response


class FairRoute(APIRoute):
    """A route of the FAIR pages: its refusals are an HTML page for browsers (by
    ``Accept``) and the one JSON error body (the app's handlers) for everyone else."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The handler, with browsers' refusals rendered as HTML."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except NufairError as exc:
                if not wants_html(request):
                    raise
                return html_error(request, exc.status, exc.code, exc.message,
                                  dict(exc.headers or {}))
            except RequestValidationError as exc:
                if not wants_html(request):
                    raise
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                return html_error(request, 422, "invalid_request",
                                  f"{where}: {first.get('msg', 'invalid request')}")

        return route
