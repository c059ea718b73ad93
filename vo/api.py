"""HTTP endpoints of the VO layer: /tap (sync, VOSI, examples), /scs, /datalink.

Handlers only parse parameters and shape answers; TAP rules live in ``vo.service``, reads in
``vo.storage``, and what they use comes from the app's :class:`vo.context.VoContext`. A
refusal is raised as a :mod:`vo.errors` error, which the house's one error handler answers
as a VOTable with QUERY_STATUS=ERROR; only the cone search answers in its own error shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from vo import mocformats, registry, scs, vosi
from vo.conepool import WRITE_ON_LOOP_ROWS
from vo.config import VoConfig
from vo.context import VoContext, VoCtx, context_of
from vo.datalink import FIELDS, DatasetId, link_rows, parse_id
from vo.errors import CUT_OFF_NOTE, NotFound, VoError
from vo.formats.votable import votable
from vo.openapi import (
    DATALINK_RESPONSES,
    EXAMPLES_RESPONSES,
    MOC_RESPONSES,
    TAP_RESPONSES,
    VOTABLE,
    VOTABLE_RESPONSES,
    XML,
    XML_RESPONSES,
)
from vo.params import check_params, read_params, upper_params
from vo.resultstream import PlanEstimate
from vo.service import TapService, TapStream
from vo.slots import SyncTicket
from vo.storage import VoStorage
from vo.tables import all_tables

router = APIRouter(tags=["vo"])
log = logging.getLogger(__name__)


# ------------------------------------------------------------------------ TAP
@router.get("/tap/sync", response_class=Response, responses=TAP_RESPONSES)
@router.post("/tap/sync", response_class=Response, responses=TAP_RESPONSES)
async def tap_sync(request: Request, vo: VoCtx) -> Response:
    """TAP 1.1 synchronous query. The answer is streamed: written as rows are fetched."""
    params, files = await read_params(request, vo.config.max_upload_bytes)
    ticket = await vo.slots.enter()
    try:
        stream, body = await anyio.to_thread.run_sync(
            _open, TapService(vo.storage, vo.config), params, files, ticket.admit,
            limiter=vo.slots.threads)
    except BaseException:
        ticket.leave()
        raise
    if body is not None:
        ticket.leave()
        return Response(body, media_type=stream.media_type)
    return BudgetedStream(_stream_body(stream, ticket), stream.media_type, stream.deadline)


def _open(service: TapService, params: dict[str, Any], files: dict[str, bytes],
          admit: Callable[[PlanEstimate], None]) -> tuple[TapStream, bytes | None]:
    """Start the query; when its rows are all fetched already (a small answer), also write
    the whole document and give the connection back, in this one trip to a slot's thread
    (a streamed answer takes one a chunk: ~7 for a small answer, ~1 ms in all)."""
    stream = service.open(params, files, False, admit)
    if not stream.result.whole:
        return stream, None
    try:
        return stream, b"".join(stream.chunks())
    finally:
        stream.close()


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
        """Send the answer, giving up ``SEND_GRACE_S`` past its time budget."""
        with anyio.move_on_after(self.deadline + SEND_GRACE_S - time.monotonic()) as scope:
            await super().stream_response(send)
        if scope.cancelled_caught:
            log.warning("TAP answer given up: the client did not take it in time")
            aclose = getattr(self.content, "aclose", None)
            if aclose is not None:
                await aclose()  # gives the slot and the connection back now


async def _stream_body(stream: TapStream, ticket: SyncTicket) -> AsyncIterator[bytes]:
    """The chunks of ``stream``, each written in one of the slots' threads; the connection
    and the slots are given back however the answer ends (client gone included)."""
    chunks = stream.chunks()
    threads = ticket.slots.threads
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, None, limiter=threads)
            if chunk is None:
                return
            if chunk:
                yield chunk
    except VoError as exc:  # CSV/TSV cannot carry an error: the answer is cut off
        log.warning("TAP answer cut off: %s", exc.message)
        exc.add_note(CUT_OFF_NOTE)  # uvicorn's traceback of it: one line (nufair.logs)
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_close, chunks, stream, limiter=threads)
        ticket.leave()


def _close(chunks: Generator[bytes, None, None], stream: TapStream) -> None:
    chunks.close()
    stream.close()


@router.get("/tap/availability", response_class=Response, responses=XML_RESPONSES)
def tap_availability(vo: VoCtx) -> Response:
    """VOSI availability: whether the database answers."""
    up = vo.storage.ping()
    note = "service is accepting queries" if up else "the database does not answer"
    return Response(vosi.availability(up, note), media_type=XML)


@router.get("/tap/capabilities", response_class=Response, responses=XML_RESPONSES)
def tap_capabilities(vo: VoCtx) -> Response:
    """VOSI capabilities (TAPRegExt), with the row limits in use."""
    return Response(vosi.capabilities(vo.config), media_type=XML)


@router.get("/tap/tables", response_class=Response, responses=XML_RESPONSES)
def tap_tables(request: Request) -> Response:
    """VOSI tables: every published table (DETAIL=min: without their columns)."""
    detail = upper_params(request.query_params.multi_items()).get("DETAIL", "max")
    return Response(vosi.tableset(detail.lower() != "min"), media_type=XML)


@router.get("/tap/tables/{name}", response_class=Response, responses=XML_RESPONSES)
def tap_table(name: str) -> Response:
    """VOSI table: one published table, by its qualified or bare name."""
    for t in all_tables():
        if t.qualified == name.lower() or t.name == name.lower():
            return Response(vosi.table_document(t), media_type=XML)
    raise NotFound(f"no table {name}")


@router.get("/tap/examples", response_class=Response, responses=EXAMPLES_RESPONSES)
def tap_examples(vo: VoCtx) -> Response:
    """DALI examples of ADQL queries."""
    return Response(vosi.examples(vo.config), media_type="application/xhtml+xml")


@router.get("/vo/resource", response_class=Response, responses=XML_RESPONSES)
def vo_resource(vo: VoCtx) -> Response:
    """The VOResource record of the services (a vs:CatalogService: TAP, SCS, DataLink),
    also harvested by OAI-PMH as ``ivo_vor``."""
    return Response(registry.resource_document(vo.config), media_type=XML)


@router.get("/tap", response_class=HTMLResponse)
def tap_root(vo: VoCtx) -> Response:
    """A page linking the TAP endpoints, for a person who opens /tap."""
    base = vo.config.base_url.rstrip("/")
    links = "".join(f'<li><a href="{base}/tap/{p}">{p}</a></li>' for p in (
        "capabilities", "availability", "tables", "examples", "sync", "async"))
    return Response(f"<html><body><h1>nufair TAP service</h1><ul>{links}</ul></body></html>",
                    media_type="text/html")


# ------------------------------------------------------------------------ SCS
async def _cone_on_loop(vo: VoContext, params: dict[str, Any]) -> bytes | None:
    """The cone search's answer, its rows read on the event loop (``vo.cones``) and a small
    answer written there too; None when it is left to the threaded path: no such
    connections, VERB=3, or a larger answer (see :mod:`vo.conepool`)."""
    if vo.cones is None:
        return None
    try:
        check_params(params)
        cone = scs.cone_of(params)
    except VoError as exc:
        return scs.error_document(exc.message)
    if cone.verb == 3:
        return None
    got = await vo.cones.rows(cone.ra, cone.dec, cone.sr, cone.names, vo.config.max_rows)
    if got is None:
        return None
    if len(got[0]) <= WRITE_ON_LOOP_ROWS:
        return scs.answer(vo.config, cone, *got)
    return await run_in_threadpool(scs.answer, vo.config, cone, *got)


def _cone_answer(vo: VoContext, params: dict[str, Any]) -> bytes:
    """The cone search's answer; a refusal is SCS 1.03's error document, not an HTTP error."""
    try:
        check_params(params)
        return scs.search(vo.storage, vo.config, params)
    except VoError as exc:
        return scs.error_document(exc.message)


@router.get("/scs", response_class=Response, responses=VOTABLE_RESPONSES)
async def cone_search(request: Request, vo: VoCtx) -> Response:
    """Simple Cone Search 1.03 over the current alerts."""
    params = upper_params(request.query_params.multi_items())
    body = await run_in_threadpool(_cone_answer, vo, params)
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
        """Answer ``GET /scs`` here; pass everything else on."""
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        query = scope.get("query_string", b"").decode("latin-1")
        params = upper_params(parse_qsl(query, keep_blank_values=True))
        vo = context_of(scope["app"])
        body = await _cone_on_loop(vo, params)
        if body is None:
            body = await run_in_threadpool(_cone_answer, vo, params)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", VOTABLE.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True, slots=True)
class _RouteLabel:
    """What the metrics middleware reads from ``scope["route"]``."""

    path: str


# ------------------------------------------------------ VOSI of SCS and DataLink
@router.get("/scs/capabilities", response_class=Response, responses=XML_RESPONSES)
def scs_capabilities(vo: VoCtx) -> Response:
    """VOSI capabilities of the cone search."""
    return Response(vosi.service_capabilities(vo.config, "scs"), media_type=XML)


@router.get("/datalink/capabilities", response_class=Response, responses=XML_RESPONSES)
def datalink_capabilities(vo: VoCtx) -> Response:
    """VOSI capabilities of the DataLink service."""
    return Response(vosi.service_capabilities(vo.config, "datalink"), media_type=XML)


@router.get("/scs/availability", response_class=Response, responses=XML_RESPONSES)
@router.get("/datalink/availability", response_class=Response, responses=XML_RESPONSES)
def service_availability(vo: VoCtx) -> Response:
    """VOSI availability of the cone search and DataLink: whether the database answers."""
    return tap_availability(vo)


# ------------------------------------------------------------------- DataLink
@router.get("/datalink", response_class=Response, responses=DATALINK_RESPONSES)
@router.post("/datalink", response_class=Response, responses=DATALINK_RESPONSES)
async def datalink(request: Request, vo: VoCtx) -> Response:
    """DataLink 1.1 {links}: one or more ID parameters."""
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        form = await request.form()
        items += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    check_params(dict(items))
    ids = [parse_id(str(v)) for k, v in items if k.upper() == "ID"]
    fmt = next((str(v) for k, v in items if k.upper() == "RESPONSEFORMAT"), None)
    if fmt and fmt.split(";")[0].strip().lower() not in (
            "votable", "application/x-votable+xml", "text/xml"):
        raise VoError(f"RESPONSEFORMAT {fmt} is not supported")
    if not ids:
        raise VoError("UsageFault: ID is required")
    body = await run_in_threadpool(_links, vo.storage, vo.config, ids)
    return Response(body, media_type=VOTABLE + ";content=datalink")


def _links(vo: VoStorage, cfg: VoConfig, ids: list[DatasetId]) -> bytes:
    """The {links} table of ``ids``: the links of each, or an error row."""
    keys: list[tuple[int, int | None]] = [(i.alert_id, i.revision) for i in ids
                                          if i.alert_id is not None]
    found = vo.datasets(keys)
    rows: list[list[Any]] = []
    for i in ids:
        rows += link_rows(i, found.get((i.alert_id, i.revision)) if i.alert_id is not None
                          else None, cfg)
    return votable(FIELDS, rows, serialization="tabledata")


@router.get("/datalink/moc", response_class=Response, responses=MOC_RESPONSES)
def datalink_moc(request: Request, vo: VoCtx) -> Response:
    """A stored region as a MOC 2.0 (the #coverage links of DataLink): ASCII, FITS or
    JSON, by RESPONSEFORMAT or else Accept (:mod:`vo.mocformats`)."""
    params = upper_params(request.query_params.multi_items())
    check_params(params)
    fmt = mocformats.choose(params.get("RESPONSEFORMAT"), request.headers.get("accept"))
    ident = parse_id(str(params.get("ID", "")))
    level = _level(params.get("LEVEL", "90"))
    if ident.alert_id is None or level not in (50, 90):
        raise VoError("ID must be an alert DID and LEVEL 50 or 90")
    text = vo.storage.moc(ident.alert_id, ident.revision, level)
    if text is None:
        raise NotFound(f"no {level} % region for {ident.raw}")
    return Response(mocformats.serialize(text, fmt), media_type=fmt.media_type,
                    headers={"Vary": "Accept"})


def _level(raw: object) -> int:
    """LEVEL as an integer (400 when it is none)."""
    try:
        return int(str(raw))
    except ValueError:
        raise VoError("LEVEL must be 50 or 90") from None
