"""HTTP endpoints of the VO layer: /tap (sync, VOSI, examples), /scs, /datalink.

Handlers only parse parameters and shape answers; TAP rules live in ``vo.service``, reads in
``vo.storage``. Every refusal is a VOTable with QUERY_STATUS=ERROR.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.handlers.events import STORAGE_STATE as CATALOG_STATE
from vo import scs, vosi
from vo.config import VoConfig
from vo.datalink import FIELDS, DatasetId, link_rows, parse_id
from vo.errors import NotFoundError, ServiceBusy, VoError
from vo.formats.votable import error_votable, votable
from vo.service import TapService, TapStream, check_params, upper_params
from vo.storage import PlanEstimate, VoStorage
from vo.tables import all_tables

router = APIRouter(tags=["vo"])
log = logging.getLogger(__name__)

XML = "text/xml; charset=utf-8"
VOTABLE = "application/x-votable+xml"

#: ``app.state`` attribute names the app factory fills.
CONFIG_STATE = "vo_config"
STORAGE_STATE = "vo_storage"
SLOTS_STATE = "vo_sync_slots"


def app_config(app: Any) -> VoConfig:
    cfg = getattr(app.state, CONFIG_STATE, None)
    return cfg if isinstance(cfg, VoConfig) else VoConfig()


def app_storage(app: Any) -> VoStorage:
    """The VO storage, built on the catalog's engine the first time it is needed."""
    vo = getattr(app.state, STORAGE_STATE, None)
    if vo is None:
        catalog = getattr(app.state, CATALOG_STATE)
        vo = VoStorage(catalog.engine, app_config(app).timeout_s)
        setattr(app.state, STORAGE_STATE, vo)
    return vo


def app_service(app: Any) -> TapService:
    return TapService(app_storage(app), app_config(app))


def config(request: Request) -> VoConfig:
    return app_config(request.app)


def storage(request: Request) -> VoStorage:
    return app_storage(request.app)


def tap_service(request: Request) -> TapService:
    return app_service(request.app)


def error_response(exc: VoError) -> Response:
    """The VOTable error document of ``exc`` (QUERY_STATUS=ERROR, then its code)."""
    headers = {"Retry-After": str(RETRY_AFTER_S)} if isinstance(exc, ServiceBusy) else None
    return Response(error_votable(exc.message, exc.code), status_code=exc.status,
                    media_type=VOTABLE, headers=headers)


#: Seconds a client answered 503 (every synchronous slot taken) is asked to wait.
RETRY_AFTER_S = 5

#: OpenAPI description of the answers of the VO routes: VOTable or XML documents, not JSON.
_VOTABLE_DOC = {VOTABLE: {"schema": {"type": "string"}}}
_XML_DOC = {"text/xml": {"schema": {"type": "string"}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Refused: a VOTable with QUERY_STATUS=ERROR and INFO code",
          "content": _VOTABLE_DOC},
    404: {"description": "Not found: a VOTable with QUERY_STATUS=ERROR",
          "content": _VOTABLE_DOC},
}
#: UWS (TAP async) answers: documents, redirects after a change, and refusals.
UWS_REFUSALS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    403: {"description": "Another owner's job: a VOTable with QUERY_STATUS=ERROR",
          "content": _VOTABLE_DOC},
    429: {"description": "Over a per-owner cap: a VOTable with QUERY_STATUS=ERROR",
          "content": _VOTABLE_DOC},
    503: {"description": "Over a service-wide cap: a VOTable with QUERY_STATUS=ERROR and "
                         "Retry-After", "content": _VOTABLE_DOC},
}
UWS_XML_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A UWS document", "content": _XML_DOC}, **UWS_REFUSALS}
UWS_REDIRECT_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "Done: See Other, to the job or the job list"}, **UWS_REFUSALS}
UWS_ITEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A job resource: its phase or another value (text), its "
                         "parameters or results (UWS XML), or its error (VOTable)",
          "content": {"text/plain": {"schema": {"type": "string"}}, **_XML_DOC,
                      **_VOTABLE_DOC}},
    **UWS_REFUSALS}
TAP_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The query result: VOTable (BINARY2 or TABLEDATA), CSV or TSV "
                         "(RESPONSEFORMAT)",
          "content": {**_VOTABLE_DOC, "text/csv": {"schema": {"type": "string"}},
                      "text/tab-separated-values": {"schema": {"type": "string"}}}},
    **_ERRORS,
    503: {"description": "Every synchronous slot is taken: a VOTable with "
                         "QUERY_STATUS=ERROR, code service_busy, and Retry-After",
          "content": _VOTABLE_DOC},
}
VOTABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A VOTable document", "content": _VOTABLE_DOC}, **_ERRORS}
XML_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A VOSI XML document", "content": _XML_DOC}, **_ERRORS}
EXAMPLES_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "DALI examples (XHTML with RDFa)",
          "content": {"application/xhtml+xml": {"schema": {"type": "string"}}}}}
DATALINK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "DataLink {links} table",
          "content": {VOTABLE + ";content=datalink": {"schema": {"type": "string"}}}},
    **_ERRORS}
MOC_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "ASCII MOC 2.0",
          "content": {"text/plain": {"schema": {"type": "string"}}}}, **_ERRORS}


def check_text_params(items: Any) -> dict[str, Any]:
    """:func:`upper_params` of ``items``, refused (:class:`BadParameter`) when a name or
    value holds NUL or an unpaired surrogate."""
    params = upper_params(items)
    check_params(params)
    return params


class SyncSlots:
    """Slots of the synchronous TAP queries (each holds a pooled connection while its
    answer is written): at most ``slots`` at once, and of them at most ``heavy`` that the
    planner expects to cost over ``heavy_cost`` or to return over ``heavy_bytes``. A query
    waits up to ``wait_s`` for a slot, a heavy query (which holds a slot while it waits)
    up to ``heavy_wait_s`` more for a heavy slot, then is refused with
    :class:`ServiceBusy`. A burst of heavy queries can then neither exhaust the VO engine's
    pool (issue 12: 25 cross joins made a small query wait 27.6 s) nor hold the slots of
    small queries for long."""

    def __init__(self, slots: int, heavy: int, heavy_cost: float, wait_s: float,
                 heavy_bytes: float = float("inf"), heavy_wait_s: float | None = None,
                 ) -> None:
        self.slots = slots
        self.heavy = heavy
        self.heavy_cost = heavy_cost
        self.heavy_bytes = heavy_bytes
        self.wait_s = wait_s
        self.heavy_wait_s = wait_s if heavy_wait_s is None else heavy_wait_s
        self._all = asyncio.Semaphore(slots)
        self._heavy = asyncio.Semaphore(heavy)

    @property
    def free(self) -> tuple[int, int]:
        """(free slots, free heavy slots)."""
        return self._all._value, self._heavy._value

    async def _take(self, sem: asyncio.Semaphore, what: str, wait_s: float) -> None:
        try:
            if wait_s <= 0 and sem.locked():
                raise TimeoutError
            await asyncio.wait_for(sem.acquire(), max(wait_s, 0.001))
        except TimeoutError:
            raise ServiceBusy(f"all {what} are busy; retry later, or submit the query to "
                              "/tap/async") from None

    async def enter(self) -> SyncTicket:
        """A ticket holding one slot (waits, or raises :class:`ServiceBusy`)."""
        await self._take(self._all, f"{self.slots} synchronous query slots", self.wait_s)
        return SyncTicket(self)


class SyncTicket:
    """The slots one synchronous query holds; :meth:`leave` gives them back (once)."""

    def __init__(self, slots: SyncSlots) -> None:
        self.slots = slots
        self.heavy = False
        self.done = False

    async def admit_heavy(self) -> None:
        await self.slots._take(self.slots._heavy,
                               f"{self.slots.heavy} slots for heavy queries (planned cost "
                               f"over {self.slots.heavy_cost:g} or answer over "
                               f"{self.slots.heavy_bytes:g} bytes)", self.slots.heavy_wait_s)
        self.heavy = True

    def admit(self, plan: PlanEstimate) -> None:
        """Called from the worker thread that opens the query, with the planner's estimate:
        a heavy query also takes a heavy slot (waits in the event loop, or raises)."""
        if plan.cost > self.slots.heavy_cost or plan.bytes > self.slots.heavy_bytes:
            anyio.from_thread.run(self.admit_heavy)

    def leave(self) -> None:
        if self.done:
            return
        self.done = True
        if self.heavy:
            self.slots._heavy.release()
        self.slots._all.release()


def sync_slots(app: Any) -> SyncSlots:
    """The app's :class:`SyncSlots`, made on first use (in the app's event loop)."""
    slots = getattr(app.state, SLOTS_STATE, None)
    if not isinstance(slots, SyncSlots):
        cfg = app_config(app)
        slots = SyncSlots(cfg.sync_slots, cfg.heavy_slots, cfg.heavy_cost, cfg.sync_queue_s,
                          cfg.heavy_bytes, cfg.heavy_queue_s)
        setattr(app.state, SLOTS_STATE, slots)
    return slots


async def read_params(request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Query-string and body parameters (upper-cased names) and uploaded parts."""
    items: list[tuple[str, Any]] = list(request.query_params.multi_items())
    files: dict[str, bytes] = {}
    if request.method == "POST":
        form = await request.form(max_part_size=config(request).max_upload_bytes)
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[key] = await value.read()
            else:
                items.append((key, value))
    return check_text_params(items), files


# ------------------------------------------------------------------------ TAP
@router.get("/tap/sync", response_class=Response, responses=TAP_RESPONSES)
@router.post("/tap/sync", response_class=Response, responses=TAP_RESPONSES)
async def tap_sync(request: Request) -> Response:
    """TAP 1.1 synchronous query. The answer is streamed: written as rows are fetched."""
    try:
        params, files = await read_params(request)
        ticket = await sync_slots(request.app).enter()
    except VoError as exc:
        return error_response(exc)
    try:
        stream = await run_in_threadpool(tap_service(request).open, params, files, False,
                                         ticket.admit)
    except VoError as exc:
        ticket.leave()
        return error_response(exc)
    except BaseException:
        ticket.leave()
        raise
    return BudgetedStream(_stream_body(stream, ticket), stream.media_type, stream.deadline)


#: Seconds past an answer's time budget that its client still has to take the rest (the
#: trailing QUERY_STATUS=ERROR of an answer cut at the budget included).
SEND_GRACE_S = 10.0


class BudgetedStream(StreamingResponse):
    """A streamed answer that stops waiting for a client too slow to take it:
    ``SEND_GRACE_S`` after the answer's time budget (``deadline``, ``time.monotonic``) the
    sending is given up and the connection closed. The budget is checked between batches,
    which wait while the client does not read; without this a client that never reads
    would keep its slot and database connection as long as it stays connected."""

    def __init__(self, content: AsyncIterator[bytes], media_type: str,
                 deadline: float) -> None:
        super().__init__(content, media_type=media_type)
        self.deadline = deadline
        self.content = content

    async def stream_response(self, send: Send) -> None:
        with anyio.move_on_after(self.deadline + SEND_GRACE_S - time.monotonic()) as scope:
            await super().stream_response(send)
        if scope.cancelled_caught:
            log.warning("TAP answer given up: the client did not take it in time")
            aclose = getattr(self.content, "aclose", None)
            if aclose is not None:
                await aclose()  # gives the slot and the connection back now


async def _stream_body(stream: TapStream, ticket: SyncTicket) -> AsyncIterator[bytes]:
    """The chunks of ``stream``, each written in a worker thread; the connection and the
    slots are given back however the answer ends (client gone included)."""
    chunks = stream.chunks()
    try:
        while True:
            chunk = await run_in_threadpool(next, chunks, None)
            if chunk is None:
                return
            if chunk:
                yield chunk
    except VoError as exc:  # CSV/TSV cannot carry an error: the answer is cut off
        log.warning("TAP answer cut off: %s", exc.message)
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_close, chunks, stream)
        ticket.leave()


def _close(chunks: Generator[bytes, None, None], stream: TapStream) -> None:
    chunks.close()
    stream.close()


@router.get("/tap/availability", response_class=Response, responses=XML_RESPONSES)
def tap_availability(request: Request) -> Response:
    up = storage(request).ping()
    note = "service is accepting queries" if up else "the database does not answer"
    return Response(vosi.availability(up, note), media_type=XML)


@router.get("/tap/capabilities", response_class=Response, responses=XML_RESPONSES)
def tap_capabilities(request: Request) -> Response:
    return Response(vosi.capabilities(config(request)), media_type=XML)


@router.get("/tap/tables", response_class=Response, responses=XML_RESPONSES)
def tap_tables(request: Request) -> Response:
    detail = upper_params(request.query_params.multi_items()).get("DETAIL", "max")
    return Response(vosi.tableset(detail.lower() != "min"), media_type=XML)


@router.get("/tap/tables/{name}", response_class=Response, responses=XML_RESPONSES)
def tap_table(name: str) -> Response:
    for t in all_tables():
        if t.qualified == name.lower() or t.name == name.lower():
            return Response(vosi.table_document(t), media_type=XML)
    return error_response(NotFoundError(f"no table {name}"))


@router.get("/tap/examples", response_class=Response, responses=EXAMPLES_RESPONSES)
def tap_examples(request: Request) -> Response:
    return Response(vosi.examples(config(request)), media_type="application/xhtml+xml")


@router.get("/tap", response_class=HTMLResponse)
def tap_root(request: Request) -> Response:
    base = config(request).base_url.rstrip("/")
    links = "".join(f'<li><a href="{base}/tap/{p}">{p}</a></li>' for p in (
        "capabilities", "availability", "tables", "examples", "sync", "async"))
    return Response(f"<html><body><h1>nufair TAP service</h1><ul>{links}</ul></body></html>",
                    media_type="text/html")


# ------------------------------------------------------------------------ SCS
def _cone_answer(app: Any, params: dict[str, Any]) -> bytes:
    try:
        check_params(params)
        return scs.search(app_storage(app), app_config(app), params)
    except VoError as exc:
        return scs.error_document(exc.message)


@router.get("/scs", response_class=Response, responses=VOTABLE_RESPONSES)
async def cone_search(request: Request) -> Response:
    """Simple Cone Search 1.03 over the current alerts."""
    params = upper_params(request.query_params.multi_items())
    body = await run_in_threadpool(_cone_answer, request.app, params)
    return Response(body, media_type=VOTABLE)


class ConeSearchFastPath:
    """Answers ``GET /scs`` as plain ASGI, below the app's middleware but before routing.

    A cone search is one indexed query (~0.3 ms); FastAPI's routing through every included
    router, its dependency solving and response classes added ~0.5 ms more per request
    (profiled for issue 5). The answer is the route's own (same function); request metrics
    still see it (``scope["route"]`` is set to the route). Other methods and paths go on.
    """

    def __init__(self, app: ASGIApp, path: str = "/scs") -> None:
        self.app = app
        self.path = path
        self.route = _RouteLabel(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        query = scope.get("query_string", b"").decode("latin-1")
        params = upper_params(parse_qsl(query, keep_blank_values=True))
        body = await run_in_threadpool(_cone_answer, scope["app"], params)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", VOTABLE.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True, slots=True)
class _RouteLabel:
    """What the metrics middleware reads from ``scope["route"]``."""

    path: str


# ------------------------------------------------------------------- DataLink
@router.get("/datalink", response_class=Response, responses=DATALINK_RESPONSES)
@router.post("/datalink", response_class=Response, responses=DATALINK_RESPONSES)
async def datalink(request: Request) -> Response:
    """DataLink 1.1 {links}: one or more ID parameters."""
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        form = await request.form()
        items += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    try:
        check_params(dict(items))
    except VoError as exc:
        return error_response(exc)
    ids = [parse_id(str(v)) for k, v in items if k.upper() == "ID"]
    fmt = next((str(v) for k, v in items if k.upper() == "RESPONSEFORMAT"), None)
    if fmt and fmt.split(";")[0].strip().lower() not in (
            "votable", "application/x-votable+xml", "text/xml"):
        return error_response(VoError(f"RESPONSEFORMAT {fmt} is not supported"))
    if not ids:
        return error_response(VoError("UsageFault: ID is required"))
    cfg = config(request)
    body = await run_in_threadpool(_links, storage(request), cfg, ids)
    return Response(body, media_type=VOTABLE + ";content=datalink")


def _links(vo: VoStorage, cfg: VoConfig, ids: list[DatasetId]) -> bytes:
    keys: list[tuple[int, int | None]] = [(i.alert_id, i.revision) for i in ids
                                          if i.alert_id is not None]
    found = vo.datasets(keys)
    rows: list[list[Any]] = []
    for i in ids:
        rows += link_rows(i, found.get((i.alert_id, i.revision)) if i.alert_id is not None
                          else None, cfg)
    return votable(FIELDS, rows, serialization="tabledata")


@router.get("/datalink/moc", response_class=Response, responses=MOC_RESPONSES)
def datalink_moc(request: Request) -> Response:
    """A stored region as ASCII MOC 2.0 (the #coverage links of DataLink)."""
    params = upper_params(request.query_params.multi_items())
    try:
        check_params(params)
        ident = parse_id(str(params.get("ID", "")))
        level = int(str(params.get("LEVEL", "90")))
        if ident.alert_id is None or level not in (50, 90):
            raise VoError("ID must be an alert DID and LEVEL 50 or 90")
        text = storage(request).moc(ident.alert_id, ident.revision, level)
        if text is None:
            raise NotFoundError(f"no {level} % region for {ident.raw}")
    except ValueError:
        return error_response(VoError("LEVEL must be 50 or 90"))
    except VoError as exc:
        return error_response(exc)
    return Response(text + "\n", media_type="text/plain")
