"""The home page people land on, the DCAT catalog, the sitemap and the API catalog."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from catalog.errors import Busy, InvalidInput, NotFound
from catalog.fair import dcat, dcat_page, skyplot, skyview
from catalog.fair.describe import iso
from catalog.fair.http import TEMPLATES, FairContext, FairRoute, get_fair, negotiate
from catalog.handlers.context import catalog_context
from catalog.handlers.events import get_storage
from catalog.models import EventSummary
from catalog.storage.events import CatalogStorage, EventQuery
from catalog.storage.fair_pages import PageAlert, catalog_page

router = APIRouter(include_in_schema=False, route_class=FairRoute)
Ctx = Annotated[FairContext, Depends(get_fair)]
Storage = Annotated[CatalogStorage, Depends(get_storage)]

#: At most this many alerts on the all-sky map (newest first).
MAP_LIMIT = 5000
API_CATALOG_TYPE = 'application/linkset+json; profile="https://www.rfc-editor.org/info/rfc9727"'
VO_LINKS = (("TAP", "/tap"), ("Cone search", "/scs"))
#: Printable text only (no NUL or other control characters) in the search form's fields.
TEXT = r"^[^\x00-\x1f\x7f]*$"


class BuildGate:
    """Caps the DCAT catalogue pages built at once; holds the default page size.

    Entered and left on the event loop only, so a plain counter is safe. A request that
    finds the gate full is refused (503 with ``Retry-After``) rather than queued. A page is
    one database read and a few milliseconds of writing (:mod:`catalog.fair.dcat_page`),
    done in a worker thread.
    """

    def __init__(self, limit: int = 2, page_size: int = 100) -> None:
        self.limit = limit
        self.page_size = page_size
        self.active = 0

    def close(self) -> None:
        """Nothing to stop (kept for the app's shutdown, which calls it)."""

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
    # One-based for readers: the latest of two revisions (numbers 0 and 1) is "rev. 2 of 2".
    shown = (cur.number + 1) if cur else 1
    state = "retracted" if e.retracted else f"rev. {shown} of {max(e.revision_count, shown)}"
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
def home(request: Request, storage: Storage, ctx: Ctx,
         name: Annotated[str | None, Query(max_length=64, pattern=TEXT)] = None,
         since: Annotated[str | None, Query(max_length=10, pattern=TEXT)] = None,
         until: Annotated[str | None, Query(max_length=10, pattern=TEXT)] = None,
         stream: Annotated[str | None, Query(max_length=16, pattern=TEXT)] = None,
         ra: Annotated[str | None, Query(max_length=20, pattern=TEXT)] = None,
         dec: Annotated[str | None, Query(max_length=20, pattern=TEXT)] = None,
         radius: Annotated[str | None, Query(max_length=20, pattern=TEXT)] = None,
         cursor: Annotated[str | None, Query(max_length=200, pattern=TEXT)] = None,
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
    searched = any(q.values())
    matches = {i["name"] for i in items} if searched else None
    if matches is not None:  # the matches drawn last, over the others
        points.sort(key=lambda p: p.name in matches)
    context = {"q": q, "items": items, "error": error, "next_url": next_url,
               "searched": searched, "total": storage.count_events(),
               "allsky": skyplot.allsky_map(points, highlight=matches),
               "legend": skyplot.legend(), "vo_links": VO_LINKS,
               "sky": skyview.allsky_view(points, ctx.cfg.sky_survey),
               "streams": ("gold", "bronze", "cascade", "hese", "ehe")}
    return TEMPLATES.TemplateResponse(request, "home.html", context, status_code=status)


@dataclass(frozen=True, slots=True)
class CatalogPage:
    """A built catalogue page: its alerts, the number of alerts in all, and its body."""

    alerts: list[PageAlert]
    total: int
    body: str


def read_catalog_page(ctx: FairContext, page: int, size: int, media: str,
                      page_url: str) -> CatalogPage:
    """Page ``page`` of the catalogue, read and written (a worker thread's part); the HTML
    view gets no body. :class:`NotFound` beyond the last page."""
    alerts, total = catalog_page(ctx.fair.engine, page, size)
    if page > 1 and not alerts:
        raise NotFound(f"the catalog has no page {page}",
                       details={"pages": max(1, -(-total // size))})
    body = ""
    if media in dcat_page.WRITERS:
        triples = dcat_page.page_triples(alerts, ctx.cfg, page=page, size=size, total=total,
                                         page_url=page_url)
        body = dcat_page.WRITERS[media](triples)
    return CatalogPage(alerts, total, body)


def build_catalog_page(ctx: FairContext, page: int, size: int, rdf_format: str,
                       page_url: str) -> tuple[str, int]:
    """(serialised page, total alerts) in the calling thread (benchmarks, tools);
    ``rdf_format`` is rdflib's name of the serialisation (``turtle``, ``json-ld``, ``xml``)."""
    media = next(m for m, f in dcat.RDF_FORMATS.items() if f == rdf_format)
    built = read_catalog_page(ctx, page, size, media, page_url)
    return built.body, built.total


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


#: What ``/catalog`` offers: the RDF serialisations, then the HTML view for browsers.
CATALOG_OFFERS = [*dcat.RDF_FORMATS, "text/html", "application/json"]


@router.get("/catalog")
async def catalog(request: Request, ctx: Ctx,
                  page: Annotated[int, Query(ge=1, le=10**7)] = 1,
                  limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
                  format: Annotated[str | None, Query(max_length=40, pattern=TEXT)] = None,
                  ) -> Response:
    """One page of the DCAT 3 catalogue as Turtle, JSON-LD or RDF/XML, or its HTML view.

    ``format`` (one of the RDF media types) overrides ``Accept``: links for browsers.

    Pages hold ``limit`` alerts (default ``NUFAIR_CATALOG_PAGE_SIZE``), newest first, and
    link each other (``hydra:PagedCollection`` in the graph, ``Link`` headers). At most
    ``NUFAIR_CATALOG_MAX_BUILDS`` pages are built at once (503 beyond).
    """
    media = negotiate(format or request.headers.get("accept"), CATALOG_OFFERS)
    gate = _gate(request)
    size = limit or gate.page_size
    page_url = ctx.cfg.catalog_url + "?page={page}" + (f"&limit={limit}" if limit else "")
    if not gate.try_enter():
        raise Busy("the catalog is being built for other requests; try again shortly",
                   details={"retry_after_s": 5})
    try:
        built = await run_in_threadpool(read_catalog_page, ctx, page, size, media, page_url)
    finally:
        gate.leave()
    links = _page_links(page_url, page, built.total, size)
    if media == "text/html":
        last = max(1, -(-built.total // size))
        view = {"alerts": built.alerts, "page": page, "last": last, "total": built.total,
                "prev_url": page_url.format(page=page - 1) if page > 1 else None,
                "next_url": page_url.format(page=page + 1) if page < last else None,
                "formats": [(m, f"{page_url.format(page=page)}&{urlencode({'format': m})}")
                            for m in dcat.RDF_FORMATS]}
        response = TEMPLATES.TemplateResponse(request, "catalog.html",
                                              {"v": view, "cfg": ctx.cfg})
        response.headers.update({"Vary": "Accept", "Link": links})
        return response
    return Response(built.body, media_type=media, headers={"Vary": "Accept", "Link": links})


@router.get("/robots.txt")
def robots(ctx: Ctx) -> Response:
    """Crawlers welcome on the pages; kept off the query services and the write API; the
    sitemap named."""
    body = ("User-agent: *\n"
            "Allow: /\n"
            "Disallow: /tap/\nDisallow: /scs\nDisallow: /api/\nDisallow: /oai\n"
            f"Sitemap: {ctx.cfg.base}/sitemap.xml\n")
    return Response(body, media_type="text/plain; charset=utf-8")


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
