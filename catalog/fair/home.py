"""The home page people land on: the all-sky map, a search form and the alerts, paged.

The list pages by keyset on (event time, id), newest first, like ``GET /api/v1/events``:
``?after=`` a cursor gives the older alerts that follow it, ``?before=`` the newer ones that
precede it; a search's filters travel with the links. Links carry ``rel="next"``/``"prev"``
(``Link`` header, ``<link>`` in the head, the page's own navigation). The map shows every
alert, not only the page's: it is a resource of its own (:mod:`catalog.fair.skymap`: the
static SVG in an ``<object>``, the interactive sky's compact JSON fetched by its script),
so the page stays small however many alerts there are. A search's matches on this page are
drawn large, in a small inline SVG over the faded map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from catalog.errors import InvalidInput
from catalog.fair import skymap, skyplot, skyview
from catalog.fair.http import TEMPLATES, FairContext, FairRoute, get_fair
from catalog.handlers.events import get_storage
from catalog.models import EventSummary
from catalog.storage.events import CatalogStorage, EventQuery, encode_cursor

router = APIRouter(include_in_schema=False, route_class=FairRoute)
router.include_router(skymap.router)
Storage = Annotated[CatalogStorage, Depends(get_storage)]
Ctx = Annotated[FairContext, Depends(get_fair)]

#: Alerts a page lists unless ``?limit=`` says otherwise.
PAGE_SIZE = 50
VO_LINKS = (("TAP", "/tap"), ("Cone search", "/scs"))
#: Printable text only (no NUL or other control characters) in the search form's fields.
TEXT = r"^[^\x00-\x1f\x7f]*$"
STREAMS = ("gold", "bronze", "cascade", "hese", "ehe")
_Text = Annotated[str | None, Query(max_length=20, pattern=TEXT)]
_Cursor = Annotated[str | None, Query(max_length=200, pattern=TEXT)]


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


def _key(e: EventSummary) -> str:
    return e.name or f"{e.run_id}_{e.event_id}"


def _row(e: EventSummary) -> dict[str, str]:
    cur = e.current
    position = "—"
    if cur is not None and cur.ra is not None and cur.dec is not None:
        position = f"{cur.ra:.2f}, {cur.dec:+.2f}"
    # One-based for readers: the latest of two revisions (numbers 0 and 1) is "rev. 2 of 2".
    shown = (cur.number + 1) if cur else 1
    state = "retracted" if e.retracted else f"rev. {shown} of {max(e.revision_count, shown)}"
    return {"name": _key(e), "href": f"/records/{_key(e)}", "stream": e.stream,
            "time": e.event_time.strftime("%Y-%m-%d %H:%M:%S"), "position": position,
            "state": state}


def _map_points(storage: CatalogStorage) -> list[skyplot.MapPoint]:
    """Every alert with a direction, as the map draws it (:func:`skymap.map_points`)."""
    return skymap.map_points(storage.engine)


def _point(e: EventSummary) -> skyplot.MapPoint | None:
    """An alert of the page on the map, where its current revision puts it (None: no
    direction)."""
    cur = e.current
    if cur is None or cur.ra is None or cur.dec is None:
        return None
    return skyplot.MapPoint(name=_key(e), href=f"/records/{_key(e)}", ra=cur.ra,
                            dec=cur.dec, stream=e.stream, status=e.status,
                            region90=skymap.outline(cur.ra, cur.dec, cur.error90))


@dataclass(slots=True)
class Listing:
    """The page's alerts and the links to the pages around it (None where there is none)."""

    items: list[dict[str, str]] = field(default_factory=list)
    points: list[skyplot.MapPoint] = field(default_factory=list)
    next_url: str | None = None
    prev_url: str | None = None
    first_url: str | None = None


def _query(q: dict[str, str | None], limit: int, after: str | None,
           before: str | None) -> EventQuery:
    if q["stream"] not in (None, "none", *STREAMS):
        raise InvalidInput("unknown stream", details={"parameter": "stream"})
    if after and before:
        raise InvalidInput("give after or before, not both", details={"parameter": "before"})
    cone_parts = (_float(q["ra"], "ra", 0, 360), _float(q["dec"], "dec", -90, 90),
                  _float(q["radius"], "radius", 0, 180))
    if any(c is not None for c in cone_parts) and None in cone_parts:
        raise InvalidInput("a position search needs RA, Dec and radius")
    ra, dec, radius = cone_parts
    cone = (ra, dec, radius) if ra is not None and dec is not None and radius is not None \
        else None
    return EventQuery(stream=q["stream"], since=_day(q["since"], "since"),
                      until=_day(q["until"], "until", True), name=q["name"] or None,
                      cone=cone, limit=limit, cursor=after, before=before)


def list_page(storage: CatalogStorage, q: dict[str, str | None], limit: int,
              after: str | None, before: str | None) -> Listing:
    """One page of the alerts matching the search ``q``, and its links (the filters and
    a ``limit`` other than the default kept in them). :class:`InvalidInput` for a bad
    field or cursor."""
    page = storage.list_events(_query(q, limit, after, before))
    kept = {k: v for k, v in q.items() if v}
    if limit != PAGE_SIZE:
        kept["limit"] = str(limit)

    def url(**cursor: str) -> str:
        return "/?" + urlencode({**kept, **cursor}) if kept or cursor else "/"

    out = Listing(items=[_row(e) for e in page.items],
                  points=[p for p in map(_point, page.items) if p is not None])
    first, last = (page.items[0], page.items[-1]) if page.items else (None, None)
    if before:  # a page of newer alerts: older ones follow it; newer ones while it says so
        out.next_url = url(after=encode_cursor(last.event_time, last.id)) if last else None
        out.prev_url = url(before=page.next_cursor) if page.next_cursor else None
    else:
        out.next_url = url(after=page.next_cursor) if page.next_cursor else None
        if after:
            out.prev_url = url(before=encode_cursor(first.event_time, first.id)) if first \
                else url()
    if after or before:
        out.first_url = url()
    return out


def _links(listing: Listing) -> str:
    """RFC 8288 ``Link`` header of the page's neighbours."""
    rels = (("first", listing.first_url), ("prev", listing.prev_url),
            ("next", listing.next_url))
    return " , ".join(f'<{u}> ; rel="{rel}"' for rel, u in rels if u)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, storage: Storage, ctx: Ctx,
         name: Annotated[str | None, Query(max_length=64, pattern=TEXT)] = None,
         since: Annotated[str | None, Query(max_length=10, pattern=TEXT)] = None,
         until: Annotated[str | None, Query(max_length=10, pattern=TEXT)] = None,
         stream: Annotated[str | None, Query(max_length=16, pattern=TEXT)] = None,
         ra: _Text = None, dec: _Text = None, radius: _Text = None,
         after: _Cursor = None, before: _Cursor = None,
         cursor: Annotated[str | None, Query(max_length=200, pattern=TEXT,
                                             description="former name of after")] = None,
         limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
         ) -> Response:
    """Latest alerts (paged), the all-sky map and a search form; no JavaScript needed."""
    q: dict[str, str | None] = {"name": name, "since": since, "until": until,
                                "stream": stream or None, "ra": ra, "dec": dec,
                                "radius": radius}
    error = None
    listing = Listing()
    status = 200
    try:
        listing = list_page(storage, q, limit, after or cursor, before)
    except InvalidInput as exc:
        error, status = exc.message, 422
    searched = any(q.values())
    matches = [p.name for p in listing.points] if searched else []
    # The matches over the faded map of every alert (which is /sky/allsky.svg).
    layer = skyplot.allsky_map(listing.points, highlight=set(matches), target=None,
                               grid=False) if searched else None
    context = {"q": q, "items": listing.items, "error": error, "listing": listing,
               "searched": searched, "total": storage.count_events(),
               "allsky_src": skymap.SVG_PATH, "matches_svg": layer,
               "legend": skyplot.legend(), "vo_links": VO_LINKS,
               "sky": skyview.allsky_view([], ctx.cfg.sky_survey, overlay=skymap.JSON_PATH,
                                          highlight=matches),
               "streams": STREAMS}
    response = TEMPLATES.TemplateResponse(request, "home.html", context, status_code=status)
    if links := _links(listing):
        response.headers["Link"] = links
    return response
