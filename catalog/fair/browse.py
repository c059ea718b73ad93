"""The DCAT catalogue (paged), robots.txt, the sitemap and the API catalog; the home page is
:mod:`catalog.fair.home`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from catalog.errors import Busy, NotFound
from catalog.fair import dcat, dcat_page
from catalog.fair.describe import iso
from catalog.fair.home import TEXT, _map_points  # _map_points: the sky tests import it here
from catalog.fair.http import TEMPLATES, FairContext, FairRoute, get_fair, negotiate
from catalog.handlers.context import catalog_context
from catalog.storage.fair_pages import PageAlert, PageRead, catalog_page

router = APIRouter(include_in_schema=False, route_class=FairRoute)
__all__ = ["_map_points", "router"]
Ctx = Annotated[FairContext, Depends(get_fair)]

API_CATALOG_TYPE = 'application/linkset+json; profile="https://www.rfc-editor.org/info/rfc9727"'


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


@dataclass(frozen=True, slots=True)
class CatalogPage:
    """A built catalogue page: its alerts, where it sits, and its body."""

    alerts: list[PageAlert]
    links: dcat_page.PageLinks
    body: str

    @property
    def total(self) -> int:
        """The number of alerts in the catalogue."""
        return self.links.total


def page_links(page_url: str, page: int, size: int, read: PageRead) -> dcat_page.PageLinks:
    """The links of a page read at ``page``: ``next`` carries the page's last alert as the
    cursor (``after``), so that the next page is read from there, not from an offset."""
    last = max(1, -(-read.total // size))
    nxt = None
    if read.more and read.alerts:
        nxt = page_url.format(page=page + 1) + f"&after={read.alerts[-1].key}"
    return dcat_page.PageLinks(
        page=page, size=size, total=read.total, url=page_url.format(page=page),
        first=page_url.format(page=1), last=page_url.format(page=last),
        prev=page_url.format(page=min(page, last + 1) - 1) if page > 1 else None, next=nxt)


def read_catalog_page(ctx: FairContext, page: int, size: int, media: str,
                      page_url: str, after: int | None = None) -> CatalogPage:
    """Page ``page`` of the catalogue (read after the alert ``after`` when given), read and
    written (a worker thread's part); the HTML view gets no body. :class:`NotFound` for a
    page with no alert (beyond the last; a cursor that names no alert or the last one)."""
    read = catalog_page(ctx.fair.engine, page, size, after)
    if (page > 1 or after is not None) and not read.alerts:
        raise NotFound(f"the catalog has no page {page}" + (
            f" after alert {after}" if after is not None else ""),
            details={"pages": max(1, -(-read.total // size))})
    links = page_links(page_url, page, size, read)
    body = ""
    if media in dcat_page.WRITERS:
        body = dcat_page.WRITERS[media](dcat_page.page_nodes(read.alerts, ctx.cfg, links))
    return CatalogPage(read.alerts, links, body)


def build_catalog_page(ctx: FairContext, page: int, size: int, rdf_format: str,
                       page_url: str) -> tuple[str, int]:
    """(serialised page, total alerts) in the calling thread (benchmarks, tools);
    ``rdf_format`` is rdflib's name of the serialisation (``turtle``, ``json-ld``, ``xml``)."""
    media = next(m for m, f in dcat.RDF_FORMATS.items() if f == rdf_format)
    built = read_catalog_page(ctx, page, size, media, page_url)
    return built.body, built.total


def _gate(request: Request) -> BuildGate:
    return catalog_context(request).gate


def _link_header(links: dcat_page.PageLinks) -> str:
    """RFC 8288 ``Link`` header of a catalog page: first, last, prev and next."""
    rels = [("first", links.first), ("last", links.last), ("prev", links.prev),
            ("next", links.next)]
    return " , ".join(f'<{url}> ; rel="{rel}"' for rel, url in rels if url is not None)


#: What ``/catalog`` offers: the RDF serialisations, the HTML view for browsers, and JSON
#: (the JSON-LD, typed as what it is: ``application/ld+json`` is JSON, RFC 6839 ``+json``,
#: as the landing pages answer a JSON client).
CATALOG_OFFERS = [*dcat.RDF_FORMATS, "text/html", "application/json"]
#: The media type answered for an offer that is served as another.
SERVED_AS = {"application/json": "application/ld+json"}


@router.get("/catalog")
async def catalog(request: Request, ctx: Ctx,
                  page: Annotated[int, Query(ge=1, le=10**7)] = 1,
                  limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
                  format: Annotated[str | None, Query(max_length=40, pattern=TEXT)] = None,
                  after: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
                  ) -> Response:
    """One page of the DCAT 3 catalogue as Turtle, JSON-LD or RDF/XML, or its HTML view.

    ``format`` (one of the RDF media types) overrides ``Accept``: links for browsers.

    Pages hold ``limit`` alerts (default ``NUFAIR_CATALOG_PAGE_SIZE``), newest first, and
    link each other (``hydra:PagedCollection`` in the graph, ``Link`` headers). A ``next``
    link names the page's last alert (``after``): the next page starts there, so a harvest
    walking the links neither repeats nor skips an alert when new ones arrive meanwhile, and
    reads a page's worth of rows however deep it is. ``page`` alone is read by offset. At
    most ``NUFAIR_CATALOG_MAX_BUILDS`` pages are built at once (503 beyond).
    """
    media = negotiate(format or request.headers.get("accept"), CATALOG_OFFERS)
    media = SERVED_AS.get(media, media)
    gate = _gate(request)
    size = limit or gate.page_size
    page_url = ctx.cfg.catalog_url + "?page={page}" + (f"&limit={limit}" if limit else "")
    if not gate.try_enter():
        raise Busy("the catalog is being built for other requests; try again shortly",
                   details={"retry_after_s": 5})
    try:
        built = await run_in_threadpool(read_catalog_page, ctx, page, size, media, page_url,
                                        after)
    finally:
        gate.leave()
    links = built.links
    headers = {"Vary": "Accept", "Link": _link_header(links)}
    if media == "text/html":
        self_url = links.url + (f"&after={after}" if after is not None else "")
        view = {"alerts": built.alerts, "page": page, "last": links.last_page,
                "total": links.total, "prev_url": links.prev, "next_url": links.next,
                "formats": [(m, f"{self_url}&{urlencode({'format': m})}")
                            for m in dcat.RDF_FORMATS]}
        response = TEMPLATES.TemplateResponse(request, "catalog.html",
                                              {"v": view, "cfg": ctx.cfg})
        response.headers.update(headers)
        return response
    return Response(built.body, media_type=media, headers=headers)


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
