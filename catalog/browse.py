"""The home page people land on, the DCAT catalog, the sitemap and the API catalog."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from catalog import dcat, skyplot
from catalog.api import get_storage
from catalog.describe import iso
from catalog.errors import InvalidInput
from catalog.fair_http import TEMPLATES, FairContext, get_fair, negotiate
from catalog.models import EventSummary
from catalog.storage import CatalogStorage, EventQuery

router = APIRouter(include_in_schema=False)
Ctx = Annotated[FairContext, Depends(get_fair)]
Storage = Annotated[CatalogStorage, Depends(get_storage)]

#: At most this many alerts on the all-sky map (newest first).
MAP_LIMIT = 5000
API_CATALOG_TYPE = 'application/linkset+json; profile="https://www.rfc-editor.org/info/rfc9727"'
VO_LINKS = (("TAP", "/tap"), ("Cone search", "/scs"))


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
         name: Annotated[str | None, Query(max_length=64)] = None,
         since: Annotated[str | None, Query(max_length=10)] = None,
         until: Annotated[str | None, Query(max_length=10)] = None,
         stream: Annotated[str | None, Query(max_length=16)] = None,
         ra: Annotated[str | None, Query(max_length=20)] = None,
         dec: Annotated[str | None, Query(max_length=20)] = None,
         radius: Annotated[str | None, Query(max_length=20)] = None,
         cursor: Annotated[str | None, Query(max_length=200)] = None) -> Response:
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


def _all_records(ctx: FairContext) -> list:
    return [ctx.records.for_event(pk) for pk in ctx.fair.all_event_pks()]


@router.get("/catalog")
async def catalog(request: Request, ctx: Ctx) -> Response:
    """The DCAT 3 catalog with PROV-O, as Turtle, JSON-LD or RDF/XML."""
    media = negotiate(request.headers.get("accept"), list(dcat.RDF_FORMATS))
    records = await run_in_threadpool(_all_records, ctx)
    graph = dcat.catalog_graph(records, ctx.cfg)
    body = await run_in_threadpool(graph.serialize, format=dcat.RDF_FORMATS[media])
    return Response(body, media_type=media, headers={"Vary": "Accept"})


@router.get("/sitemap.xml")
async def sitemap(ctx: Ctx) -> Response:
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
