"""HTTP plumbing shared by every router: the one error contract, the request-body limit,
authentication before the body is read, input hygiene at the edge and the security headers.

Error contract: every refusal is ``{"error": {"code", "message", "details"}}`` (JSON), except
under the IVOA prefixes (``/tap``, ``/scs``, ``/datalink``: a VOTable with
``QUERY_STATUS=ERROR``) and bad arguments to ``/oai`` (an OAI-PMH ``badArgument`` error;
OAI-PMH reports errors with HTTP 200, as the rest of ``/oai`` does). Input the database or
XML cannot hold (NUL, numbers out of range, broken encodings, nesting too deep) is a 4xx
wherever it is found; anything else unexpected is a 500 in the same shape.

Authentication first: FastAPI parses a JSON body before it runs dependencies, so the token
of every write route guarded by ``require_scope`` (catalog, ingest and scan routes alike) is
checked by :class:`AuthFirstMiddleware` before any byte of the body is read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, StatementError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.errors import NufairError, PayloadTooLarge
from catalog.handlers.auth import SCOPE_ATTR, check_bearer, token_table
from catalog.storage.dberrors import outage

logger = logging.getLogger(__name__)

#: Paths answered in the IVOA error shape (a VOTable with QUERY_STATUS=ERROR).
VO_PREFIXES = ("/tap", "/scs", "/datalink")
#: Paths answered in the OAI-PMH error shape.
OAI_PREFIXES = ("/oai",)
VOTABLE = "application/x-votable+xml"
#: Methods that may change state: these are authenticated before the body is read.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Characters refused in a request path (after percent-decoding): C0 controls and DEL.
_PATH_UNSAFE = re.compile("[\x00-\x1f\x7f]")
TEMPLATES_DIR = Path(__file__).parents[1] / "fair" / "templates"


# ----------------------------------------------------------------------------- shapes

def error_json(code: str, message: str, status: int, details: dict[str, Any] | None = None,
               headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The one JSON error body: ``{"error": {"code", "message", "details"}}``."""
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def error_response(path: str, base_url: str, status: int, code: str, message: str,
                   details: dict[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    """An error in the shape of the API ``path`` belongs to (JSON, VOTable or OAI-PMH)."""
    if _under(path, VO_PREFIXES):
        from vo.formats.votable import error_votable

        return Response(error_votable(message, code), status_code=status, media_type=VOTABLE,
                        headers=dict(headers or {}))
    if path in OAI_PREFIXES and status in (400, 422):  # a bad argument, in OAI-PMH terms
        from catalog.fair.oai import error_document

        return Response(error_document(base_url, "badArgument", message), status_code=200,
                        media_type="text/xml; charset=utf-8")
    return error_json(code, message, status, details, headers)


def _base_url(scope: Scope) -> str:
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    return str(getattr(settings, "public_base_url", "http://localhost"))


def classify(exc: BaseException) -> tuple[int, str, str] | None:
    """(status, code, message) of an exception caused by the request's input; None if it is
    not one (a bug or an outage, answered 500 elsewhere).

    Covered: values the database refuses (SQLAlchemy ``DataError``: numbers out of range,
    NUL in text, invalid byte sequences), text that cannot be encoded, and input nested
    too deeply to process.
    """
    if outage(exc):
        return 503, "database_unavailable", "the database is unavailable; try again shortly"
    if isinstance(exc, RecursionError):
        return 422, "invalid_input", "the input is nested too deeply"
    if isinstance(exc, UnicodeError):
        return 422, "invalid_input", "the input is not valid text (encoding)"
    if isinstance(exc, psycopg.errors.NumericValueOutOfRange):
        return 422, "invalid_input", "a number in the request is out of range"
    if isinstance(exc, psycopg.errors.CharacterNotInRepertoire):
        return 422, "invalid_input", "the input holds an invalid byte sequence"
    if isinstance(exc, psycopg.DataError):
        if "NUL" in str(exc):
            return 422, "invalid_input", "text must not contain NUL characters"
        return 422, "invalid_input", "a value in the request is not valid for its type"
    if isinstance(exc, StatementError) and exc.orig is not None:
        inner = classify(exc.orig)
        if inner is not None or not isinstance(exc, DataError):
            return inner
        return 422, "invalid_input", "a value in the request is not valid for its type"
    if isinstance(exc, ValueError) and ("NUL" in str(exc) or "XML compatible" in str(exc)):
        return 422, "invalid_input", "text must not contain NUL or control characters"
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Render domain errors, request-validation failures, routing errors (404/405) and
    unexpected exceptions in the one error shape of each path."""

    @app.exception_handler(NufairError)
    async def _domain(request: Request, exc: NufairError) -> Response:
        return error_response(request.url.path, _base_url(request.scope), exc.status,
                              exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")}
                    for e in exc.errors()]
        first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return error_response(request.url.path, _base_url(request.scope), 422,
                              "invalid_request", f"{where}: {first['msg']}",
                              {"problems": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(request.url.path, _base_url(request.scope), exc.status_code,
                              code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        known = classify(exc)
        if known is not None:  # raised outside the routes (a middleware): still a 4xx
            status, code, message = known
            return error_response(request.url.path, _base_url(request.scope), status,
                                  code, message)
        return error_response(request.url.path, _base_url(request.scope), 500,
                              "internal_error", "internal error: the request was logged")


class ErrorContractMiddleware:
    """Answers exceptions caused by the input (see :func:`classify`) with a 4xx in the
    path's error shape. It sits below the other middleware (so it also covers the plain
    ASGI fast paths); other exceptions go on to the 500 handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            known = classify(exc)
            if known is None or started:
                raise
            status, code, message = known
            logger.info("refused %s %s: %s (%s)", scope["method"], scope["path"], code,
                        type(exc).__name__)
            response = error_response(scope["path"], _base_url(scope), status, code, message)
            await response(scope, receive, send)


class EdgeInputMiddleware:
    """Refuses, before routing, paths holding control characters and query strings holding
    NUL (``%00``): no handler, database or XML writer ever sees them.

    ``/oai`` and ``/scs`` are left to their handlers, which answer such arguments in their
    protocols' own error shapes (OAI-PMH ``badArgument``; SCS 1.03's error VOTable).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in (*OAI_PREFIXES, "/scs"):
            problem = input_problem(scope["path"], scope.get("query_string", b""))
            if problem is not None:
                code, message = problem
                response = error_response(scope["path"], _base_url(scope), 400, code, message)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def input_problem(path: str, query_string: bytes) -> tuple[str, str] | None:
    """(code, message) of why a request's path or query string is refused at the edge, or
    None. The codes are those the VO layer uses for the same faults."""
    if _PATH_UNSAFE.search(path):
        return "invalid_character", "the path must not contain control characters"
    if b"\x00" in unquote_to_bytes(query_string.replace(b"+", b" ")):
        return "bad_parameter", "query parameters must not contain NUL characters"
    return None


# --------------------------------------------------------------------- authentication

def route_entries(routes: Iterable[Any]) -> Iterator[tuple[Any, APIRoute]]:
    """(matcher, route) of every FastAPI route, through included routers.

    The matcher has the route's full ``path``, its ``methods`` and ``matches(scope)``.
    FastAPI ≥ 0.120 keeps included routers as branches (``iter_route_contexts`` walks
    them); older versions flatten them into ``app.routes``.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: the routes are flat
        for route in routes:
            if isinstance(route, APIRoute):
                yield route, route
        return
    for ctx in iter_route_contexts(list(routes)):
        if isinstance(ctx.original_route, APIRoute):
            yield ctx, ctx.original_route


def scoped_routes(routes: Iterable[Any]) -> list[tuple[Any, str]]:
    """The routes guarded by a :func:`catalog.handlers.auth.require_scope` dependency: (matcher,
    scope), the matcher as :func:`route_entries` gives it."""
    out: list[tuple[Any, str]] = []
    for matcher, route in route_entries(routes):
        stack = list(route.dependant.dependencies)
        while stack:
            dep = stack.pop()
            scope = getattr(dep.call, SCOPE_ATTR, None)
            if scope is not None:
                out.append((matcher, scope))
                break
            stack.extend(dep.dependencies)
    return out


class AuthFirstMiddleware:
    """Checks the bearer token of a write request *before* its body is read or parsed.

    FastAPI parses and validates a JSON body before it runs the route's dependencies, so an
    unauthenticated ``POST`` with a malformed body got 422, and paid for the parse. Here any
    ``POST/PUT/PATCH/DELETE`` whose route carries a ``require_scope`` dependency (catalog,
    ingest and scan routes alike, found by inspecting the routes once) is refused with 401/403
    and ``WWW-Authenticate`` when the token is missing, unknown or lacks the scope. The
    dependency still runs in the route (for its audit value).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: list[tuple[Any, str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS:
            needed = self._required_scope(scope)
            if needed is not None:
                try:
                    check_bearer(Headers(scope=scope).get("authorization", ""),
                                 token_table(scope["app"]), needed)
                except NufairError as exc:
                    response = error_json(exc.code, exc.message, exc.status, exc.details,
                                          exc.headers)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _required_scope(self, scope: Scope) -> str | None:
        if self._routes is None:
            self._routes = scoped_routes(scope["app"].routes)
        for route, needed in self._routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return needed
        return None


# ------------------------------------------------------------------- security headers

def inline_style_hashes(folder: Path = TEMPLATES_DIR) -> list[str]:
    """CSP ``'sha256-…'`` sources of every ``<style>`` block in the page templates."""
    hashes = []
    for template in sorted(folder.glob("*.html")):
        for css in re.findall(r"<style>(.*?)</style>", template.read_text("utf-8"), re.S):
            digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
            hashes.append(f"'sha256-{digest}'")
    return hashes


def page_csp(public_base_url: str) -> str:
    """Content-Security-Policy of the HTML pages: no script at all (JSON-LD blocks are data,
    never run), the templates' own inline styles by hash, images from this service."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(public_base_url))
    styles = " ".join(inline_style_hashes()) or "'none'"
    return ("default-src 'none'; script-src 'none'; "
            f"style-src {styles}; img-src 'self' {origin} data:; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


#: The interactive API docs (Swagger UI, ReDoc) load their scripts from jsDelivr.
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net "
            "https://fonts.googleapis.com; font-src https://fonts.gstatic.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "connect-src 'self'; worker-src blob:; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    """Adds ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and a
    ``Referrer-Policy`` to every answer, a ``Content-Security-Policy`` to HTML pages, and
    rebuilds redirect ``Location``s that were derived from the request's ``Host`` header
    (Starlette's trailing-slash redirect does that) from the configured public base URL."""

    def __init__(self, app: ASGIApp, public_base_url: str) -> None:
        self.app = app
        self.base = public_base_url.rstrip("/")
        self.page_csp = page_csp(public_base_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                self._secure(headers, scope["path"])
                if 300 <= message["status"] < 400 and "location" in headers:
                    headers["location"] = self.safe_location(headers["location"], host)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _secure(self, headers: MutableHeaders, path: str) -> None:
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if headers.get("content-type", "").startswith(("text/html", "application/xhtml+xml")):
            csp = DOCS_CSP if _under(path, DOCS_PATHS) else self.page_csp
            headers.setdefault("Content-Security-Policy", csp)

    def safe_location(self, location: str, host: str) -> str:
        """``location``, with an origin taken from the ``Host`` header replaced by the base."""
        parts = urlsplit(location)
        if not parts.netloc or parts.netloc.lower() != host.lower():
            return location
        if parts.netloc.lower() == urlsplit(self.base).netloc.lower():
            return location
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.base + rest


#: OpenAPI: the error answer of an IVOA operation, and of any other.
_VO_ERROR_DOC = {"description": "Refused: a VOTable with INFO QUERY_STATUS=ERROR",
                 "content": {VOTABLE: {"schema": {"type": "string"}}}}
_JSON_ERROR_DOC = {"description": "Refused: the one error shape",
                   "content": {"application/json": {
                       "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def document_error_responses(app: FastAPI) -> None:
    """Make the OpenAPI document state the error contract: every operation that does not
    list a ``4XX`` answer gets one, in the error shape of its path (so that schema checkers
    can hold every answer to the document)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        cached = app.openapi_schema is not None
        schema = build()
        if cached:
            return schema
        json_error = dict(_JSON_ERROR_DOC)
        if "ErrorResponse" not in schema.get("components", {}).get("schemas", {}):
            json_error = {"description": _JSON_ERROR_DOC["description"]}
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if method in _HTTP_METHODS:
                    responses = operation.setdefault("responses", {})
                    responses.setdefault(
                        "4XX", _VO_ERROR_DOC if _under(path, VO_PREFIXES) else json_error)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_edge(app: FastAPI, *, public_base_url: str, cors_origins: Sequence[str],
                 max_body_bytes: int) -> None:
    """Add the edge middleware. Call after every other ``add_middleware`` that should sit
    *below* it (the VO fast path): from the outside in, security headers → CORS →
    authentication first → body limit → input hygiene → error contract."""
    app.add_middleware(ErrorContractMiddleware)
    app.add_middleware(EdgeInputMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(AuthFirstMiddleware)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins),
            allow_methods=["GET", "HEAD", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Accept", "Authorization", "Content-Type"],
            expose_headers=["Link", "Content-Digest", "Content-Location", "Location",
                            "Retry-After"],
            max_age=3600)
    app.add_middleware(SecurityHeadersMiddleware, public_base_url=public_base_url)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, whether or not they declare a length.

    A declared ``Content-Length`` over the limit is refused before any byte is read; a
    chunked body is counted as it streams and cut off once it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(self._text())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except PayloadTooLarge:
            if not started:
                await self._refuse(send)

    def _text(self) -> str:
        return f"request body exceeds the limit of {self.max_bytes} bytes"

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": {"code": PayloadTooLarge.code, "message": self._text(),
                                     "details": {"max_bytes": self.max_bytes}}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
