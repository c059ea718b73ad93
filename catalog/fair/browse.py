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
from catalog.storage.fair_pages import PageAlert, catalog_page

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
