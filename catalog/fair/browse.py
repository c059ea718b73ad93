"""The home page people land on, the DCAT catalog, the sitemap and the API catalog."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from catalog.errors import Busy, InvalidInput, NotFound
from catalog.fair import dcat, skyplot
from catalog.fair.config import FairConfig
from catalog.fair.describe import iso
from catalog.fair.http import TEMPLATES, FairContext, get_fair, negotiate
from catalog.fair.records import AlertRecord
from catalog.handlers.context import catalog_context
from catalog.handlers.events import get_storage
from catalog.models import EventSummary
from catalog.storage.events import CatalogStorage, EventQuery

router = APIRouter(include_in_schema=False)
Ctx = Annotated[FairContext, Depends(get_fair)]
Storage = Annotated[CatalogStorage, Depends(get_storage)]

#: At most this many alerts on the all-sky map (newest first).
MAP_LIMIT = 5000
API_CATALOG_TYPE = 'application/linkset+json; profile="https://www.rfc-editor.org/info/rfc9727"'
VO_LINKS = (("TAP", "/tap"), ("Cone search", "/scs"))
#: Printable text only (no NUL or other control characters) in the search form's fields.
TEXT = r"^[^\x00-\x1f\x7f]*$"


class BuildGate:
    """Caps the DCAT catalog pages built at once; holds the default page size.

    Entered and left on the event loop only, so a plain counter is safe. A request that
    finds the gate full is refused (503 with ``Retry-After``) rather than queued: queued
    builds would hold worker threads that every other endpoint needs.

    The graph of a page is built and serialised in a process of the gate's own (``limit``
    of them, started on the first build): rdflib is pure Python, ~1 s of CPU per page, and
    in a worker thread it held the GIL that the event loop needs — a third of the worker
    threads' samples under the floods of issue #12.
    """

    def __init__(self, limit: int = 2, page_size: int = 100) -> None:
        self.limit = limit
        self.page_size = page_size
        self.active = 0
        self._pool: ProcessPoolExecutor | None = None
        #: The process that built the last page (the app's own never does).
        self.last_builder_pid: int | None = None

    async def serialise(self, records: list[AlertRecord], ctx: FairContext, page: int,
                        size: int, total: int, page_url: str, rdf_format: str) -> str:
        """The page's graph, serialised in one of the gate's processes."""
        if self._pool is None:
            # spawn, not fork: the server has threads (and their locks) a fork would copy.
            self._pool = ProcessPoolExecutor(max_workers=max(1, self.limit),
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_lower_priority)
        body, self.last_builder_pid = await asyncio.get_running_loop().run_in_executor(
            self._pool, _serialise_in_builder, records, ctx.cfg, page, size, total,
            page_url, rdf_format)
        return body

    def close(self) -> None:
        """Stop the gate's processes (at the app's end)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def try_enter(self) -> bool:
        """Take a slot; False when every slot is taken."""
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        """Give a slot back."""
        self.active = max(0, self.active - 1)


def _float(value: str | None, name: str, lo: float, hi: float) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        x = float(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a number", details={"parameter": name}) from None
    if not lo <= x <= hi:
        raise InvalidInput(f"{name} must be within [{lo}, {hi}]", details={"parameter": name})
    return x


def _day(value: str | None, name: str, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        d = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD)",
                           details={"parameter": name}) from None
    t = datetime.combine(d, time(0), tzinfo=UTC)
    return t + timedelta(days=1) if end else t


def _row(e: EventSummary) -> dict[str, str]:
    cur = e.current
    key = e.name or f"{e.run_id}_{e.event_id}"
    position = "—"
    if cur is not None and cur.ra is not None and cur.dec is not None:
        position = f"{cur.ra:.2f}, {cur.dec:+.2f}"
    state = "retracted" if e.retracted else f"rev. {cur.number if cur else 0}"
    if not e.retracted and e.revision_count > 1:
        state += f" of {e.revision_count}"
    return {"name": e.name or key, "href": f"/records/{key}", "stream": e.stream,
            "time": e.event_time.strftime("%Y-%m-%d %H:%M:%S"), "position": position,
            "state": state}


def _map_points(storage: CatalogStorage) -> list[skyplot.MapPoint]:
    points: list[skyplot.MapPoint] = []
    cursor = None
    while len(points) < MAP_LIMIT:
        page = storage.list_events(EventQuery(limit=1000, cursor=cursor))
        for e in page.items:
            cur = e.current
            # A retraction has no position: show the last position the alert had.
            if cur is None or cur.ra is None or cur.dec is None:
                continue
            points.append(skyplot.MapPoint(
                name=e.name or f"{e.run_id}_{e.event_id}",
                href=f"/records/{e.name or f'{e.run_id}_{e.event_id}'}", ra=cur.ra, dec=cur.dec,
                stream=e.stream, retracted=e.retracted,
                region90=skyplot.region_outline(cur.ra, cur.dec, cur.error90, n=6)))
        cursor = page.next_cursor
        if cursor is None:
            break
    return points


@router.get("/", response_class=HTMLResponse)
def home(request: Request, storage: Storage,
         name: Annotated[str | None, Query(max_length=64, pattern=TEXT)] = None,
         since: Annotated[str | None, Query(max_length=10, pattern=TEXT)] = None,
         until: Annotated[str | None, Query(max_length=10, pattern=TEXT)] = None,
         stream: Annotated[str | None, Query(max_length=16, pattern=TEXT)] = None,
         ra: Annotated[str | None, Query(max_length=20, pattern=TEXT)] = None,
         dec: Annotated[str | None, Query(max_length=20, pattern=TEXT)] = None,
         radius: Annotated[str | None, Query(max_length=20, pattern=TEXT)] = None,
         cursor: Annotated[str | None, Query(max_length=200, pattern=TEXT)] = None
         ) -> Response:
    """Latest alerts, the all-sky map and a search form; no JavaScript."""
    q = {"name": name, "since": since, "until": until, "stream": stream or None, "ra": ra,
         "dec": dec, "radius": radius}
    error = None
    items: list[dict[str, str]] = []
    next_url = None
    status = 200
    try:
        if q["stream"] not in (None, "gold", "bronze", "cascade", "hese", "ehe", "none"):
            raise InvalidInput("unknown stream", details={"parameter": "stream"})
        cone_parts = (_float(ra, "ra", 0, 360), _float(dec, "dec", -90, 90),
                      _float(radius, "radius", 0, 180))
        if any(c is not None for c in cone_parts) and None in cone_parts:
            raise InvalidInput("a position search needs RA, Dec and radius")
        cone = cone_parts if None not in cone_parts else None
        page = storage.list_events(EventQuery(
            stream=q["stream"], since=_day(since, "since"), until=_day(until, "until", True),
            name=name or None, cone=cone, limit=50, cursor=cursor))  # type: ignore[arg-type]
        items = [_row(e) for e in page.items]
        if page.next_cursor:
            next_url = "/?" + urlencode({**{k: v for k, v in q.items() if v},
                                         "cursor": page.next_cursor})
    except InvalidInput as exc:
        error, status = exc.message, 422
    points = _map_points(storage)
    context = {"q": q, "items": items, "error": error, "next_url": next_url,
               "searched": any(q.values()), "total": storage.count_events(),
               "allsky": skyplot.allsky_map(points), "vo_links": VO_LINKS,
               "streams": ("gold", "bronze", "cascade", "hese", "ehe")}
    return TEMPLATES.TemplateResponse(request, "home.html", context, status_code=status)


def page_records(ctx: FairContext, page: int, size: int) -> tuple[list[AlertRecord], int]:
    """The alerts of one catalog page (newest first) and the number of alerts in all."""
    pks = ctx.fair.all_event_pks()
    chosen = pks[(page - 1) * size:page * size]
    return [ctx.records.for_event(pk) for pk in chosen], len(pks)


def read_catalog_page(ctx: FairContext, page: int, size: int) -> tuple[list[AlertRecord], int]:
    """The records of a page and the number of alerts (a worker thread's part: reads)."""
    records, total = page_records(ctx, page, size)
    if page > 1 and not records:
        raise NotFound(f"the catalog has no page {page}",
                       details={"pages": max(1, -(-total // size))})
    return records, total


def serialise_catalog_page(records: list[AlertRecord], cfg: FairConfig, page: int, size: int,
                           total: int, page_url: str, rdf_format: str) -> str:
    """The page's DCAT graph, serialised (a builder process's part: pure CPU)."""
    graph = dcat.catalog_page_graph(records, cfg, page=page, size=size, total=total,
                                    page_url=page_url)
    return str(graph.serialize(format=rdf_format))


def _lower_priority() -> None:
    # A builder shares the cores with the app's event loop and with PostgreSQL: it yields
    # to them (it holds no lock they wait for, so nothing is inverted).
    os.nice(10)


def _serialise_in_builder(records: list[AlertRecord], cfg: FairConfig, page: int, size: int,
                          total: int, page_url: str, rdf_format: str) -> tuple[str, int]:
    return (serialise_catalog_page(records, cfg, page, size, total, page_url, rdf_format),
            os.getpid())


def build_catalog_page(ctx: FairContext, page: int, size: int, rdf_format: str,
                       page_url: str) -> tuple[str, int]:
    """(serialised page, total alerts) in the calling thread (benchmarks, tools)."""
    records, total = read_catalog_page(ctx, page, size)
    return serialise_catalog_page(records, ctx.cfg, page, size, total, page_url,
                                  rdf_format), total


def _gate(request: Request) -> BuildGate:
    return catalog_context(request).gate


def _page_links(page_url: str, page: int, total: int, size: int) -> str:
    """RFC 8288 ``Link`` header of a catalog page: first, prev, next and last."""
    last = max(1, -(-total // size))
    rels = [("first", 1), ("last", last)]
    if page > 1:
        rels.append(("prev", min(page, last + 1) - 1))
    if page < last:
        rels.append(("next", page + 1))
    return " , ".join(f'<{page_url.format(page=n)}> ; rel="{rel}"' for rel, n in rels)


@router.get("/catalog")
async def catalog(request: Request, ctx: Ctx,
                  page: Annotated[int, Query(ge=1, le=10**7)] = 1,
                  limit: Annotated[int | None, Query(ge=1, le=1000)] = None) -> Response:
    """One page of the DCAT 3 catalog with PROV-O, as Turtle, JSON-LD or RDF/XML.

    Pages hold ``limit`` alerts (default ``NUFAIR_CATALOG_PAGE_SIZE``), newest first, and
    link each other (``hydra:PagedCollection`` in the graph, ``Link`` headers). A page's
    records are read in a worker thread and its graph built in a process of the gate's,
    at most ``NUFAIR_CATALOG_MAX_BUILDS`` at once (503 beyond).
    """
    media = negotiate(request.headers.get("accept"), list(dcat.RDF_FORMATS))
    gate = _gate(request)
    size = limit or gate.page_size
    page_url = ctx.cfg.catalog_url + "?page={page}" + (f"&limit={limit}" if limit else "")
    if not gate.try_enter():
        raise Busy("the catalog is being built for other requests; try again shortly",
                   details={"retry_after_s": 5})
    try:
        records, total = await run_in_threadpool(read_catalog_page, ctx, page, size)
        body = await gate.serialise(records, ctx, page, size, total, page_url,
                                    dcat.RDF_FORMATS[media])
    finally:
        gate.leave()
    return Response(body, media_type=media, headers={
        "Vary": "Accept", "Link": _page_links(page_url, page, total, size)})


@router.get("/sitemap.xml")
async def sitemap(ctx: Ctx) -> Response:
    """The sitemap: the home page and every landing page, with its last change."""
    rows = await run_in_threadpool(ctx.fair.all_dois)
    urls = [f"<url><loc>{escape(ctx.cfg.base)}/</loc></url>"]
    urls += [f"<url><loc>{escape(ctx.cfg.record_url(r.suffix))}</loc>"
             f"<lastmod>{iso(r.updated_at)}</lastmod></url>" for r in rows]
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(urls) + "</urlset>\n")
    return Response(body, media_type="application/xml")


@router.get("/.well-known/api-catalog")
@router.head("/.well-known/api-catalog")
def api_catalog(ctx: Ctx) -> Response:
    """RFC 9727 API catalog: a linkset of the service's APIs and their descriptions."""
    base = ctx.cfg.base
    anchor = f"{base}/.well-known/api-catalog"
    apis = [
        (f"{base}/api/v1", f"{base}/openapi.json", "application/vnd.oai.openapi+json",
         f"{base}/docs"),
        (f"{base}/tap", f"{base}/tap/capabilities", "application/xml",
         "https://www.ivoa.net/documents/TAP/"),
        (f"{base}/oai", f"{base}/oai?verb=Identify", "text/xml",
         "https://www.openarchives.org/OAI/openarchivesprotocol.html"),
        (f"{base}/catalog", f"{base}/catalog", "text/turtle",
         "https://www.w3.org/TR/vocab-dcat-3/"),
    ]
    linkset = [{"anchor": anchor, "item": [{"href": api} for api, *_ in apis]}]
    linkset += [{"anchor": api, "service-desc": [{"href": desc, "type": media}],
                 "service-doc": [{"href": doc}]} for api, desc, media, doc in apis]
    return Response(json.dumps({"linkset": linkset}, indent=2),
                    media_type=API_CATALOG_TYPE,
                    headers={"Link": f'<{anchor}> ; rel="api-catalog"'})
