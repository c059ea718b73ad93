"""The two ASGI layers of the edge, pure ASGI (no ``BaseHTTPMiddleware``).

:class:`FrontLayer` (outermost): request metrics and the security headers of every
answer. :class:`GuardLayer` (below CORS): authentication before
the body is read, the request-body limit, input hygiene and the error contract.

They were six layers; each cost a coroutine frame and a ``send`` closure per request on the
event loop that ``/healthz`` shares with every other request (issue #12), so the steps are
merged here in their former order, and each answer is the same byte for byte.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.errors import NufairError, PayloadTooLarge
from catalog.handlers.auth import check_bearer
from catalog.handlers.context import TokenSource
from catalog.handlers.metrics import Metrics
from nufair.edge.classify import classify
from nufair.edge.headers import SecurityHeaders
from nufair.edge.inputs import input_problem, skips_input_check
from nufair.edge.routes import ScopedRoutes
from nufair.edge.shapes import ErrorShapes, Refusal, error_json

logger = logging.getLogger(__name__)

#: Methods that may change state: these are authenticated before the body is read.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

class AnswerTracker:
    """A ``send`` that remembers whether the answer has started (after that, an error can
    no longer be answered with a status of its own)."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        """Pass ``message`` on, noting the start of the answer."""
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class FrontLayer:
    """Outermost: counts and times every request by route template (bounded labels, not
    raw paths), and secures the headers of its answer (:class:`SecurityHeaders`).
    ``/healthz`` never reaches it (the app answers it first)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, headers: SecurityHeaders) -> None:
        self.app = app
        self.metrics = metrics
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, timed, with secured headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        t0 = time.perf_counter()

        async def front_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                self.headers.apply(message, scope)
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, front_send)
        finally:
            self._record(scope, status, time.perf_counter() - t0)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        template = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope.get("method", "GET")
        self.metrics.requests.labels(method, template, str(status)).inc()
        self.metrics.latency.labels(method, template).observe(elapsed)


class GuardLayer:
    """Below CORS, in this order: a write to a route guarded by ``require_scope`` is refused
    (401/403, ``WWW-Authenticate``) unless its bearer token holds the scope, before any byte
    of the body is read or parsed (FastAPI parses a JSON body before it runs dependencies;
    the dependency still runs in the route, for its audit value); a body over ``max_bytes``
    is refused with 413, declared or counted as it streams; a path holding control
    characters or a query string holding NUL is refused with 400 (except ``/oai`` and
    ``/scs``: their handlers answer in their protocols' own shapes); an exception caused by
    the input (:func:`classify`) is answered with a 4xx (or 503 for a lost database) in the
    path's error shape, also for the plain ASGI fast paths below. Other exceptions go on to
    the 500 handler."""

    def __init__(self, app: ASGIApp, *, tokens: TokenSource, max_body_bytes: int,
                 shapes: ErrorShapes) -> None:
        self.app = app
        self.tokens = tokens
        self.max_bytes = max_body_bytes
        self.shapes = shapes
        self.scoped = ScopedRoutes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request at the edge, or pass it on with its body counted."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in WRITE_METHODS and \
                not await self._authenticated(scope, receive, send):
            return
        if self._declares_too_much(scope):
            await self._refuse_body(send)
            return
        if not skips_input_check(scope["path"]):
            problem = input_problem(scope["path"], scope.get("query_string", b""))
            if problem is not None:
                await self._answer(scope, receive, send, Refusal(400, *problem))
                return
        await self._guarded(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(self._too_large())
            return message

        answer = AnswerTracker(send)
        try:
            await self.app(scope, counted, answer)
        except PayloadTooLarge:
            if not answer.started:
                await self._refuse_body(send)
        except Exception as exc:
            known = classify(exc)
            if known is None or answer.started:
                raise
            status, code, message = known
            logger.info("refused %s %s: %s (%s)", scope["method"], scope["path"], code,
                        type(exc).__name__)
            await self._answer(scope, counted, send, Refusal(status, code, message))

    async def _answer(self, scope: Scope, receive: Receive, send: Send,
                      refusal: Refusal) -> None:
        response = self.shapes.response(scope["path"], refusal)
        await response(scope, receive, send)

    async def _authenticated(self, scope: Scope, receive: Receive, send: Send) -> bool:
        needed = self.scoped.required(scope)
        if needed is None:
            return True
        try:
            check_bearer(Headers(scope=scope).get("authorization", ""), self.tokens(), needed)
        except NufairError as exc:
            response = error_json(exc.code, exc.message, exc.status, exc.details, exc.headers)
            await response(scope, receive, send)
            return False
        return True

    def _declares_too_much(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    return True
        return False

    def _too_large(self) -> str:
        return f"request body exceeds the limit of {self.max_bytes} bytes"

    async def _refuse_body(self, send: Send) -> None:
        body = json.dumps({"error": {"code": PayloadTooLarge.code, "message": self._too_large(),
                                     "details": {"max_bytes": self.max_bytes}}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

