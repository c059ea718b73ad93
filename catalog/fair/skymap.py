"""The home page's all-sky map data: every alert's best fit and 90 % region, read in one
query, as compact JSON (``/sky/alerts.json``) and as the static SVG (``/sky/allsky.svg``).

Each alert is drawn where its latest positioned revision puts it: the current revision, or,
when that has no direction (a retraction), the last revision that had one, so a retracted
alert stays on the map, drawn as retracted. The overlay is a resource of its own, fetched
by ``static/sky.js`` and cached by the browser (``ETag``, ``Last-Modified``): the page
stays small at any number of alerts.

Compact JSON: one row per alert ``[name, stream index, status index, ra, dec, outline]``,
degrees rounded to :data:`DIGITS` decimals (the precision of the regions: IceCat-1 and the
GCN notices give their errors to 0.01 degree), the outline a flat ``[ra, dec, ...]`` list of
vertices simplified so that no point of the region's true edge lies farther than
:data:`TOLERANCE_DEG` from the drawn polygon (:func:`outline`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Engine, text

from catalog.fair.skyplot import (
    STATUS_LABELS,
    STREAM_COLOURS,
    MapPoint,
    allsky_map,
    status_colour,
)
from catalog.handlers.context import catalog_context
from catalog.models import ErrorBox

#: Decimals of the degrees in the JSON (0.01 degree: the regions' own precision).
DIGITS = 2
#: Largest distance (degrees) between a region's true edge and its drawn polygon. A pixel
#: of the home page's whole-sky view is ~0.36 degree; a zoomed view of a few degrees still
#: shows the region's shape.
TOLERANCE_DEG = 0.05
#: Fewest and most vertices of a circle's polygon.
MIN_CIRCLE, MAX_CIRCLE = 8, 72
#: The statuses, in the order of their indices in the JSON.
STATUSES = ("live", "retracted", "likely_background")
#: Format name of the JSON (a client checks it before reading the rows).
FORMAT = "nufair-sky-overlay/1"

#: One row per alert with a direction: its latest positioned revision, the current one first.
_ROWS = text("""
SELECT DISTINCT ON (e.id) e.id, e.name, e.run_id, e.event_id, e.stream, e.status,
       e.event_time, r.ra, r.dec, r.region90_shape, r.ra_err_plus_90, r.ra_err_minus_90,
       r.dec_err_plus_90, r.dec_err_minus_90, r.r90_deg
FROM events e JOIN revisions r ON r.event_pk = e.id
WHERE r.ra IS NOT NULL AND r.dec IS NOT NULL
ORDER BY e.id, (r.id = e.current_revision_pk) DESC, r.number DESC
""")
#: What the map depends on: the events' names, streams, statuses and current revisions, and
#: the revisions (immutable rows: the highest id and the newest row say whether any came).
_FINGERPRINT = text("""
SELECT count(*) AS n,
       md5(coalesce(string_agg(concat_ws(',', e.id, e.current_revision_pk, e.status, e.stream,
                                         e.name), ';' ORDER BY e.id), '')) AS digest,
       max(e.updated_at) AS events_at,
       (SELECT max(id) FROM revisions) AS last_revision,
       (SELECT max(created_at) FROM revisions) AS revisions_at
FROM events e
""")


@dataclass(frozen=True, slots=True)
class State:
    """The map's version: an ``ETag`` value and the time of its newest change."""

    etag: str
    modified: datetime | None


def state(engine: Engine) -> State:
    """The map's current version (one cheap query; the map is rebuilt only when it moves)."""
    with engine.connect() as conn:
        row = conn.execute(_FINGERPRINT).mappings().one()
    key = f"{FORMAT}|{row['n']}|{row['digest']}|{row['last_revision']}|{row['events_at']}"
    times = [t for t in (row["events_at"], row["revisions_at"]) if t is not None]
    return State(hashlib.sha256(key.encode()).hexdigest()[:32], max(times, default=None))


def _key(row: Any) -> str:
    return str(row.name) if row.name else f"{row.run_id}_{row.event_id}"


def map_points(engine: Engine) -> list[MapPoint]:
    """Every alert with a direction, oldest first (the newest drawn last, on top), with its
    status and its 90 % region outline at :data:`TOLERANCE_DEG`."""
    with engine.connect() as conn:
        rows = sorted(conn.execute(_ROWS).all(), key=lambda r: (r.event_time, r.id))
    points = []
    for r in rows:
        box = ErrorBox(ra_plus=r.ra_err_plus_90, ra_minus=r.ra_err_minus_90,
                       dec_plus=r.dec_err_plus_90, dec_minus=r.dec_err_minus_90,
                       radius_deg=r.r90_deg, shape=r.region90_shape)
        key = _key(r)
        points.append(MapPoint(name=key, href=f"/records/{key}", ra=r.ra, dec=r.dec,
                               stream=r.stream, status=r.status,
                               region90=outline(r.ra, r.dec, box)))
    return points


def outline(ra: float, dec: float, box: ErrorBox, tolerance: float = TOLERANCE_DEG
            ) -> list[tuple[float, float]] | None:
    """A region's polygon, its edge within ``tolerance`` degrees of the true one.

    A box (RA/Dec rectangle): its corners, and points along its constant-declination edges
    where the great circle between two of them (what a sky viewer draws) strays from the
    parallel by more than ``tolerance``; its meridian edges are great circles already. A
    circle: the fewest vertices whose chords stay within ``tolerance`` of it (the sagitta
    ``r (1 - cos(pi / n))``), between :data:`MIN_CIRCLE` and :data:`MAX_CIRCLE`.
    """
    if box.shape == "box" and box.ra_plus is not None and box.dec_plus is not None:
        lo = max(dec - (box.dec_minus or 0.0), -90.0)
        hi = min(dec + box.dec_plus, 90.0)
        west, east = ra - (box.ra_minus or 0.0), ra + box.ra_plus
        return [*_parallel(west, east, hi, tolerance), (east, hi),
                *_parallel(east, west, lo, tolerance), (west, lo)]
    r = box.radius_deg
    if r is None or r <= 0:
        return None
    n = MAX_CIRCLE
    if tolerance < r:
        n = math.ceil(math.pi / math.acos(1 - tolerance / r))
    n = min(MAX_CIRCLE, max(MIN_CIRCLE, n))
    d0, a0, rr = math.radians(dec), math.radians(ra), math.radians(r)
    out = []
    for i in range(n):
        th = 2 * math.pi * i / n
        d = math.asin(math.sin(d0) * math.cos(rr) + math.cos(d0) * math.sin(rr) * math.cos(th))
        a = a0 + math.atan2(math.sin(th) * math.sin(rr) * math.cos(d0),
                            math.cos(rr) - math.sin(d0) * math.sin(d))
        out.append((math.degrees(a), math.degrees(d)))
    return out


def _parallel(start: float, end: float, dec: float, tolerance: float
              ) -> list[tuple[float, float]]:
    """Points from RA ``start`` to ``end`` along the parallel ``dec`` (``end`` left out:
    the next edge starts there) such that each great-circle chord stays within
    ``tolerance`` of the parallel: the chord over a half-width ``w`` reaches latitude
    ``atan(tan(dec) / cos(w))``."""
    span = end - start
    pieces = 1
    if abs(dec) < 89.999:
        while pieces < 64:
            w = math.radians(abs(span) / pieces / 2)
            top = math.degrees(math.atan(math.tan(math.radians(abs(dec))) / math.cos(w)))
            if top - abs(dec) <= tolerance:
                break
            pieces *= 2
    return [(start + span * i / pieces, dec) for i in range(pieces)]


def overlay(points: list[MapPoint]) -> dict[str, Any]:
    """The compact JSON document of ``points`` (see the module's description)."""
    streams = sorted({p.stream for p in points} | set(STREAM_COLOURS))
    s_index = {s: i for i, s in enumerate(streams)}
    k = DIGITS
    rows = []
    for p in points:
        flat = [v for a, d in p.region90 or () for v in (round(a % 360, k), round(d, k))]
        rows.append([p.name, s_index[p.stream], STATUSES.index(p.status),
                     round(p.ra % 360, k), round(p.dec, k), flat])
    return {
        "format": FORMAT, "digits": DIGITS, "tolerance_deg": TOLERANCE_DEG,
        "href": "/records/{name}",
        "columns": ["name", "stream", "status", "ra", "dec", "region90"],
        "streams": [{"name": s, "colour": STREAM_COLOURS.get(s, "#333333")} for s in streams],
        "statuses": [{"name": s, "label": STATUS_LABELS.get(s, s),
                      "colour": status_colour(s), "dashed": s != "live"} for s in STATUSES],
        "alerts": rows,
    }


def overlay_json(points: list[MapPoint]) -> bytes:
    """:func:`overlay` as compact UTF-8 JSON."""
    return json.dumps(overlay(points), ensure_ascii=False, separators=(",", ":")).encode()


# ---------------------------------------------------------------- the two resources

#: The map's resources, served from a cache that a change of :func:`state` refreshes.
JSON_PATH, SVG_PATH = "/sky/alerts.json", "/sky/allsky.svg"
_MEDIA = {JSON_PATH: "application/json", SVG_PATH: "image/svg+xml"}


@dataclass(frozen=True, slots=True)
class Built:
    """One resource built for one :class:`State`: its bytes, plain and gzipped."""

    state: State
    body: bytes
    gzipped: bytes


_cache: dict[tuple[int, str], Built] = {}
_lock = threading.Lock()


def _build(path: str, points: list[MapPoint]) -> bytes:
    if path == JSON_PATH:
        return overlay_json(points)
    return allsky_map(points, target="_top").encode()


def built(engine: Engine, path: str) -> Built:
    """The resource ``path`` for the map's current state, built only when that moved (one
    builder at a time; both resources come from one read of the alerts)."""
    now = state(engine)
    key = (id(engine), path)
    have = _cache.get(key)
    if have is not None and have.state == now:
        return have
    with _lock:
        have = _cache.get(key)
        if have is not None and have.state == now:
            return have
        points = map_points(engine)
        for p in _MEDIA:
            body = _build(p, points)
            _cache[(id(engine), p)] = Built(now, body, gzip.compress(body, 6, mtime=0))
        return _cache[key]


def respond(request: Request, engine: Engine, path: str) -> Response:
    """``path`` with its validators: 304 when ``If-None-Match`` (or, without it,
    ``If-Modified-Since``) says the client's copy is current; gzipped when accepted."""
    b = built(engine, path)
    etag = f'"{b.state.etag}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding",
               # An SVG document inside the home page's <object>: same origin only.
               "X-Frame-Options": "SAMEORIGIN",
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                          "frame-ancestors 'self'"}
    if b.state.modified is not None:
        headers["Last-Modified"] = format_datetime(b.state.modified.astimezone(UTC),
                                                   usegmt=True)
    if _fresh(request, etag, b.state.modified):
        return Response(status_code=304, headers=headers)
    body = b.body
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        body, headers["Content-Encoding"] = b.gzipped, "gzip"
    return Response(body, media_type=_MEDIA[path], headers=headers)


def _fresh(request: Request, etag: str, modified: datetime | None) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:
        return etag in {m.strip().removeprefix("W/") for m in match.split(",")} \
            or match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since and modified is not None:
        try:
            return modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


router = APIRouter(include_in_schema=False)


@router.get(JSON_PATH)
def alerts_json(request: Request) -> Response:
    """Every alert's best fit and 90 % region, compact (the home page's interactive sky)."""
    return respond(request, catalog_context(request).storage.engine, JSON_PATH)


@router.get(SVG_PATH)
def allsky_svg(request: Request) -> Response:
    """The static all-sky map of every alert (the home page's map without scripts)."""
    return respond(request, catalog_context(request).storage.engine, SVG_PATH)
