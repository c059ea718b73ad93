"""Overlay data of the interactive sky (Aladin Lite) on the landing and home pages.

One alert: its 50 % and 90 % regions, its best fit, the best fits and 90 % regions of its
other revisions and its counterpart candidates, as (RA, Dec) polygons in degrees (the
shapes of the static SVG, :func:`catalog.fair.skyplot.region_outline`), carried inline
(``<script type="application/json">``: data, never run) for ``static/sky.js`` to read. The
home page: the whole sky, its inline JSON only naming the overlay of every alert's best fit
and 90 % region, a resource of its own (``/sky/alerts.json``, :mod:`catalog.fair.skymap`)
that ``sky.js`` fetches. The static SVG stays: it is what a reader without scripts sees.
An alert that is not live (retracted, likely background) is drawn dashed and unfilled.

Aladin Lite is vendored under ``static/aladin`` (see its ``SOURCES.md``) and served by the
service itself; the only address the page may reach beyond it is the HiPS survey, and only
when one is configured (``survey``): ``sky.js`` asks for the survey's ``properties`` first
and falls back to a plain coordinate grid when that fails.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from catalog.counterparts.models import CounterpartPublic
from catalog.fair.skyplot import (
    STATUS_COLOURS,
    STATUS_LABELS,
    MapPoint,
    alert_label,
    region_outline,
    status_colour,
)
from catalog.models import RevisionPublic

#: The static files of the sky (``sky.js`` and the vendored Aladin Lite), served at
#: :data:`STATIC_URL`.
STATIC_DIR = Path(__file__).parent / "static"
#: Where :data:`STATIC_DIR` is mounted.
STATIC_URL = "/static"
#: A HiPS colour survey of the whole optical sky (CDS, DSS2), the default of a public site.
DEFAULT_SURVEY = "https://alasky.cds.unistra.fr/DSS/DSSColor"
#: CSP sources of the inline styles Aladin Lite 3.8.2 sets: the hash of the stylesheet it
#: inserts as a ``<style>`` element, and (``'unsafe-hashes'``: that one attribute value
#: only) of ``style="font-weight:bold"`` in its frame-rate panel. The tests check them in
#: headless Chromium, where a missing source is a console error.
ALADIN_STYLE_SOURCES = ("'sha256-cEnY4wnnUdAaYodEHQq0zu+362EwEHHSAlawP4BBKmw='",
                        "'unsafe-hashes'",
                        "'sha256-wkY2X5hecQzbhnFCqvTpwrUJ1f4X8LH5WFjYUzv1wmU='")
#: Colours of the overlays (the SVG's: red 50 %, blue 90 %).
COLOURS = {"region50": "#d62728", "region90": "#1f6fb2", "bestfit": "#111111",
           "revision": "#7f7f7f", "counterpart": "#9c27b0", "blazar": "#e91e63"}
#: Points of each region outline (the SVG uses 16 per side; Aladin joins them by straight
#: lines on screen, so the circle of a wide view needs more).
OUTLINE_POINTS = 24
#: Most vertices of one alert's outline on the home page's whole-sky view, and the decimals
#: of its degrees: a pixel of that view is ~0.36 degrees wide, so 0.01 degrees and a dozen
#: vertices for a region of a few degrees draw the same picture as the SVG's 24 and
#: 0.0001 degrees, in a third of the bytes (``bench/home_overlay.py``).
ALLSKY_VERTICES = 12
ALLSKY_DIGITS = 2


@dataclass(frozen=True, slots=True)
class Region:
    """A region drawn as a polygon: its (RA, Dec) vertices in degrees, a label and a colour."""

    kind: Literal["region50", "region90", "revision", "alert"]
    label: str
    colour: str
    polygon: list[tuple[float, float]]
    href: str | None = None
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Marker:
    """A point on the sky: a best fit, another revision's best fit, a source or an alert."""

    kind: Literal["bestfit", "revision", "counterpart", "alert"]
    label: str
    colour: str
    ra: float
    dec: float
    href: str | None = None


@dataclass(frozen=True, slots=True)
class SkyView:
    """Everything ``sky.js`` draws: where to look, how wide, the survey and the overlays.

    ``mode`` is ``"local"`` (one alert, gnomonic view around the best fit) or ``"allsky"``
    (Hammer-Aitoff, the whole sky). ``survey`` is the HiPS base URL, or ``None`` for the
    coordinate grid alone. ``fallback`` is the id of the static figure the sky replaces.
    ``overlay``: the URL of more alerts to draw (the compact JSON of
    :mod:`catalog.fair.skymap`), ``highlight`` the names among them drawn large.
    """

    mode: Literal["local", "allsky"]
    ra: float
    dec: float
    fov: float
    fallback: str
    survey: str | None = None
    regions: list[Region] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    digits: int = 4
    overlay: str | None = None
    highlight: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """The view as JSON safe inside a ``<script>`` element (no ``</`` to end it early).

        Degrees are rounded to ``digits`` decimals (four: 0.36 arcsec, below what a screen
        shows; two on the whole sky, :data:`ALLSKY_DIGITS`): the home page's thousands of
        outlines stay small. Built field by field, not with ``dataclasses.asdict``, whose
        deep copies cost seconds for five thousand alerts.
        """
        k = self.digits
        data = {
            "mode": self.mode, "ra": round(self.ra, k), "dec": round(self.dec, k),
            "fov": round(self.fov, k), "fallback": self.fallback, "survey": self.survey,
            "regions": [{"kind": r.kind, "label": r.label, "colour": r.colour, "href": r.href,
                         "dashed": r.dashed,
                         "polygon": [[round(a, k), round(d, k)] for a, d in r.polygon]}
                        for r in self.regions],
            "markers": [{"kind": m.kind, "label": m.label, "colour": m.colour, "href": m.href,
                         "ra": round(m.ra, k), "dec": round(m.dec, k)} for m in self.markers],
            "overlay": self.overlay, "highlight": self.highlight,
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def _separation(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance in degrees (haversine: exact for the small distances here)."""
    p1, p2 = math.radians(dec1), math.radians(dec2)
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(ra2 - ra1) / 2) ** 2)
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def _fov(ra: float, dec: float, points: Iterable[tuple[float, float]]) -> float:
    """A field of view (degrees) that holds every point around (ra, dec) with a margin."""
    reach = max((_separation(ra, dec, a, d) for a, d in points), default=0.0)
    return min(180.0, max(2.0, 2.6 * reach))


def record_view(rev: RevisionPublic, others: Sequence[RevisionPublic] = (),
                counterparts: Sequence[CounterpartPublic] = (),
                survey: str | None = None, fallback: str = "skyplot",
                status: str = "live") -> SkyView | None:
    """The sky of one revision; ``None`` when it has no direction (retracted, unknown).

    ``others`` are the alert's other revisions (best fit and dashed 90 % region each),
    ``counterparts`` the revision's candidates (each source once, whatever its level).
    An alert whose ``status`` is not live has its own regions dashed and unfilled, their
    labels saying the status.
    """
    if rev.ra is None or rev.dec is None:
        return None
    ra, dec = rev.ra, rev.dec
    regions: list[Region] = []
    markers: list[Marker] = []
    for other in others:
        if other.ra is None or other.dec is None:
            continue
        outline = region_outline(other.ra, other.dec, other.error90, n=OUTLINE_POINTS // 4)
        if outline:
            regions.append(Region("revision", f"90 % region of version {other.number}",
                                  COLOURS["revision"], outline, dashed=True))
        markers.append(Marker("revision", f"best fit of version {other.number}",
                              COLOURS["revision"], other.ra, other.dec))
    note = f" ({STATUS_LABELS[status]})" if status in STATUS_COLOURS else ""
    for level in (90, 50):
        outline = region_outline(ra, dec, getattr(rev, f"error{level}"),
                                 n=OUTLINE_POINTS // 4)
        if outline:
            regions.append(Region("region90" if level == 90 else "region50",
                                  f"{level} % region of version {rev.number}{note}",
                                  COLOURS[f"region{level}"], outline, dashed=bool(note)))
    seen: set[tuple[str, str]] = set()
    for c in counterparts:
        if (c.catalogue, c.source_name) in seen:
            continue
        seen.add((c.catalogue, c.source_name))
        label = f"{c.source_name} ({c.source_class or 'unassociated'})"
        markers.append(Marker("counterpart", label,
                              COLOURS["blazar" if c.blazar else "counterpart"],
                              c.ra, c.dec, c.url))
    markers.append(Marker("bestfit", f"best fit of version {rev.number}{note}",
                          COLOURS["bestfit"], ra, dec))
    shown = [p for r in regions for p in r.polygon] + [(m.ra, m.dec) for m in markers]
    return SkyView("local", ra, dec, _fov(ra, dec, shown), fallback, survey, regions, markers)


def allsky_view(points: Sequence[MapPoint], survey: str | None = None,
                fallback: str = "allsky", overlay: str | None = None,
                highlight: Sequence[str] = ()) -> SkyView:
    """The whole sky (the home page's map): every alert of ``points`` inline, and those of
    ``overlay`` (a URL, fetched by ``sky.js``); ``highlight`` names alerts drawn large.

    Each inline alert is its best fit and its 90 % region (at most :data:`ALLSKY_VERTICES`
    of its outline's vertices, corners kept), coloured by stream (by status when not live:
    :data:`catalog.fair.skyplot.STATUS_COLOURS`, dashed), each linking to its record.
    """
    regions: list[Region] = []
    markers: list[Marker] = []
    for p in points:
        colour = status_colour(p.status, p.stream)
        label = alert_label(p)
        if p.region90:
            regions.append(Region("alert", label, colour, _fewer(p.region90), p.href,
                                  dashed=p.status in STATUS_COLOURS))
        markers.append(Marker("alert", label, colour, p.ra, p.dec, p.href))
    return SkyView("allsky", 180.0, 0.0, 360.0, fallback, survey, regions, markers,
                   digits=ALLSKY_DIGITS, overlay=overlay, highlight=list(highlight))


def _fewer(outline: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Every ``step``-th vertex, down to :data:`ALLSKY_VERTICES` (the outlines of
    :func:`~catalog.fair.skyplot.region_outline` have a multiple of four points with the
    box corners at multiples of a quarter, so an even step keeps the corners)."""
    step = -(-len(outline) // ALLSKY_VERTICES)
    if step > 1 and len(outline) % (4 * step) == 0:
        return outline[::step]
    return outline


def csp_sources(survey: str | None) -> dict[str, list[str]]:
    """Sources the pages' Content-Security-Policy must add for the sky, by directive.

    The vendored scripts (``'self'``) compile their WebAssembly (``'wasm-unsafe-eval'``,
    not ``'unsafe-eval'``), which Aladin Lite carries as a ``data:`` URL it fetches; it
    inserts one stylesheet and one style attribute (:data:`ALADIN_STYLE_SOURCES`) and
    starts a ``blob:`` worker; images drawn to a canvas come as ``blob:``; the survey's
    origin is fetched and drawn when one is set. The home page's static map of every alert
    is an SVG document of this service in an ``<object>`` (``object-src 'self'``; browsers
    treat a document in an ``<object>`` as a frame: ``frame-src 'self'``).
    """
    extra: dict[str, list[str]] = {
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "style-src": list(ALADIN_STYLE_SOURCES),
        "worker-src": ["blob:"],
        "img-src": ["blob:"],
        "connect-src": ["'self'", "data:"],
        "object-src": ["'self'"],
        "frame-src": ["'self'"],
    }
    if survey:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(survey))
        extra["img-src"].append(origin)
        extra["connect-src"].append(origin)
    return extra


def with_sky(csp: str, survey: str | None) -> str:
    """``csp`` (a policy) with :func:`csp_sources` added; ``'none'`` gives way to them."""
    directives: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    for name, sources in csp_sources(survey).items():
        have = [s for s in directives.get(name, []) if s != "'none'"]
        directives[name] = have + [s for s in sources if s not in have]
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())
