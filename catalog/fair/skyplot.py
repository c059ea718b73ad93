"""Server-rendered SVG sky plots: one alert's localisation, and the all-sky map of alerts.

SVG written by hand (a few dozen shapes): it renders without JavaScript, weighs a few kB and
costs microseconds, where a matplotlib figure would cost ~100 ms per request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape

from catalog.models import ErrorBox, RevisionPublic

STREAM_COLOURS = {"gold": "#c79100", "bronze": "#a0522d", "cascade": "#1f6fb2",
                  "hese": "#6a3d9a", "ehe": "#33a02c", "none": "#777777"}
#: How an alert that is not live is drawn on every map (the SVGs and the interactive sky):
#: in this colour whatever its stream, its region outlined dashed and unfilled, its dot hollow.
STATUS_COLOURS = {"retracted": "#999999", "likely_background": "#17becf"}
STATUS_LABELS = {"live": "live", "retracted": "retracted",
                 "likely_background": "likely background"}
#: The dashes of a non-live alert's outline (SVG ``stroke-dasharray``).
DASHES = "4 3"


def status_colour(status: str, stream: str | None = None) -> str:
    """The colour of an alert: its status's, else (live) its stream's."""
    if status in STATUS_COLOURS:
        return STATUS_COLOURS[status]
    return STREAM_COLOURS.get(stream or "", "#333333")


def region_outline(ra: float, dec: float, box: ErrorBox, n: int = 16
                   ) -> list[tuple[float, float]] | None:
    """Outline of a region as (ra, dec) points: its RA/Dec rectangle, or its circle."""
    if box.shape == "box" and box.ra_plus is not None and box.dec_plus is not None:
        rp, rm = box.ra_plus, box.ra_minus or 0.0
        dp, dm = box.dec_plus, box.dec_minus or 0.0
        lo, hi = max(dec - dm, -90.0), min(dec + dp, 90.0)
        pts = [(ra - rm + (rp + rm) * i / n, hi) for i in range(n + 1)]
        pts += [(ra + rp, hi - (hi - lo) * i / n) for i in range(1, n + 1)]
        pts += [(ra + rp - (rp + rm) * i / n, lo) for i in range(1, n + 1)]
        pts += [(ra - rm, lo + (hi - lo) * i / n) for i in range(1, n)]
        return pts
    r = box.radius_deg
    if r is None:
        return None
    out = []
    d0, a0 = math.radians(dec), math.radians(ra)
    rr = math.radians(r)
    for i in range(4 * n):
        th = 2 * math.pi * i / (4 * n)
        d = math.asin(math.sin(d0) * math.cos(rr) + math.cos(d0) * math.sin(rr) * math.cos(th))
        a = a0 + math.atan2(math.sin(th) * math.sin(rr) * math.cos(d0),
                            math.cos(rr) - math.sin(d0) * math.sin(d))
        out.append((math.degrees(a), math.degrees(d)))
    return out


def local_plot(rev: RevisionPublic, others: Sequence[RevisionPublic] = (),
               size: int = 360, status: str = "live") -> str:
    """SVG of the localisation of one revision: 50 % and 90 % regions, best fit, grid.

    RA grows to the left (sky as seen); the plot is a tangent-plane view around the fit.
    ``others`` (earlier or later revisions) are drawn as hollow markers. An alert that is
    not live (``status``) has its regions dashed and says its status under the title line.
    """
    if rev.ra is None or rev.dec is None:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="60" '
                'role="img"><text x="10" y="35">No direction (retracted or unknown)</text></svg>')
    ra0, dec0 = rev.ra, rev.dec
    outlines = {lvl: region_outline(ra0, dec0, getattr(rev, f"error{lvl}")) for lvl in (50, 90)}
    cosd = max(math.cos(math.radians(dec0)), 1e-3)
    half = _extent(outlines.values(), ra0, dec0, cosd) * 1.3
    view = _View(ra0, dec0, cosd, (size / 2 - 30) / half, size)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
             f'width="{size}" height="{size}" role="img" class="skyplot" '
             f'aria-label="Localisation around RA {ra0:.2f}, Dec {dec0:+.2f}">',
             f'<rect width="{size}" height="{size}" fill="#fbfbf8" stroke="#999"/>']
    parts += _grid(view, half)
    dash = f' stroke-dasharray="{DASHES}"' if status in STATUS_COLOURS else ""
    for lvl, colour, opacity in ((90, "#1f6fb2", 0.15), (50, "#d62728", 0.25)):
        pts = outlines[lvl]
        if pts:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (view.xy(*p) for p in pts))
            parts.append(f'<polygon class="region{lvl}" points="{path}" fill="{colour}" '
                         f'fill-opacity="{opacity}" stroke="{colour}" stroke-width="1.5"'
                         f'{dash}><title>{lvl} % region</title></polygon>')
    for other in others:
        if other.ra is not None and other.dec is not None:
            x, y = view.xy(other.ra, other.dec)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="none" stroke="#555">'
                         f'<title>version {other.number}</title></circle>')
    x, y = view.xy(ra0, dec0)
    parts.append(f'<path class="bestfit" d="M{x - 7:.1f},{y:.1f}h14M{x:.1f},{y - 7:.1f}v14" '
                 'stroke="#000" stroke-width="2"><title>best fit</title></path>')
    drawn = ", ".join(name for lvl, name in ((50, "red 50 %"), (90, "blue 90 %"))
                      if outlines[lvl])
    parts.append(f'<text x="{size - 4}" y="14" font-size="11" text-anchor="end">'
                 f'RA {ra0:.2f}° Dec {dec0:+.2f}°{" — " + drawn if drawn else ""}</text>')
    if status in STATUS_COLOURS:
        parts.append(f'<text class="status status-{status}" x="{size - 4}" y="28" '
                     f'font-size="11" text-anchor="end" fill="#000">'
                     f'{STATUS_LABELS[status]} (dashed)</text>')
    parts.append("</svg>")
    return "".join(parts)


def caption(rev: RevisionPublic, others: int = 0, status: str = "live") -> str:
    """The caption of :func:`local_plot`: only the regions the revision has, and the
    alert's status when it is not live."""
    if rev.ra is None or rev.dec is None:
        return "No direction: the revision gives none."
    regions = [f"{lvl} % ({colour})" for lvl, colour in ((50, "red"), (90, "blue"))
               if region_outline(rev.ra, rev.dec, getattr(rev, f"error{lvl}"), n=4)]
    text = "Best fit (cross)"
    text += f", {' and '.join(regions)} region{'s' if len(regions) > 1 else ''}" if regions \
        else "; no error region given"
    if others:
        text += "; other versions as hollow circles"
    if status in STATUS_COLOURS:
        text += f"; the alert is {STATUS_LABELS[status]}: its regions are dashed"
    return text + "."


#: Labels of the streams in the legend of the all-sky map.
LEGEND = (("gold", "Gold track"), ("bronze", "Bronze track"), ("cascade", "Cascade"),
          ("hese", "HESE (2016-2019)"), ("ehe", "EHE (2016-2019)"))


def legend(width: int = 860) -> str:
    """SVG legend of the all-sky map's colours: one swatch per stream (filled), then the
    statuses other than live (hollow, dashed: retracted, likely background)."""
    items = [(STREAM_COLOURS[s], label, "live") for s, label in LEGEND]
    items += [(c, STATUS_LABELS[s], s) for s, c in STATUS_COLOURS.items()]
    step = width / len(items)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 22" width="100%" '
             'role="img" class="legend" aria-label="Colours of the streams and statuses">']
    for i, (colour, label, status) in enumerate(items):
        x = i * step + 8
        look = (f'fill="{colour}"' if status == "live" else
                f'fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="2 1.5"')
        parts.append(f'<circle class="status-{status}" cx="{x:.0f}" cy="11" r="5" {look}/>'
                     f'<text x="{x + 9:.0f}" y="15" font-size="12">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class _View:
    """The tangent plane of :func:`local_plot`: its centre, the RA compression ``cosd`` at
    the centre's declination, pixels per degree and the square's side in pixels."""

    ra0: float
    dec0: float
    cosd: float
    scale: float
    size: int

    def xy(self, ra: float, dec: float) -> tuple[float, float]:
        """Pixel position of (ra, dec), RA growing to the left."""
        dra = ((ra - self.ra0 + 180) % 360 - 180) * self.cosd
        return self.size / 2 - dra * self.scale, self.size / 2 - (dec - self.dec0) * self.scale


def _extent(outlines: Iterable[list[tuple[float, float]] | None], ra0: float, dec0: float,
            cosd: float) -> float:
    """The largest offset of any outline point from the centre, in degrees (at least 1)."""
    extent = 1.0
    for pts in outlines:
        for ra, dec in pts or ():
            dra = ((ra - ra0 + 180) % 360 - 180) * cosd
            extent = max(extent, abs(dra), abs(dec - dec0))
    return extent


def _grid(view: _View, half: float) -> list[str]:
    """Dec and RA grid lines with their labels, at a round step, inside the square."""
    size, ra0, dec0, cosd = view.size, view.ra0, view.dec0, view.cosd
    parts = []
    step = _nice_step(half)
    k0 = math.floor((dec0 - half) / step)
    for k in range(k0, k0 + int(2 * half / step) + 2):
        d = k * step
        if -90 <= d <= 90:
            _, y = view.xy(ra0, d)
            if 0 <= y <= size:
                parts.append(f'<line x1="0" x2="{size}" y1="{y:.1f}" y2="{y:.1f}" '
                             'stroke="#ddd"/>')
                if 12 <= y <= size - 14:  # no label cut by the frame or on the RA labels
                    parts.append(f'<text x="3" y="{y - 2:.1f}" font-size="10" fill="#666">'
                                 f'{d:+g}°</text>')
    rstep = _nice_step(half / cosd)
    k0 = math.floor((ra0 - half / cosd) / rstep)
    for k in range(k0, k0 + int(2 * half / cosd / rstep) + 2):
        a = k * rstep
        x, _ = view.xy(a, dec0)
        if 0 <= x <= size:
            parts.append(f'<line y1="0" y2="{size}" x1="{x:.1f}" x2="{x:.1f}" stroke="#ddd"/>')
            if 28 <= x <= size - 40:  # a label whole inside the square, clear of Dec's
                parts.append(f'<text x="{x + 2:.1f}" y="{size - 4}" font-size="10" '
                             f'fill="#666">{a % 360:g}°</text>')
    return parts


def _nice_step(half: float) -> float:
    raw = half / 2
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 45, 90):
        if step >= raw:
            return step
    return 90.0


@dataclass(frozen=True, slots=True)
class MapPoint:
    """An alert on the all-sky map."""

    name: str
    href: str
    ra: float
    dec: float
    stream: str
    status: str
    region90: list[tuple[float, float]] | None

    @property
    def retracted(self) -> bool:
        """Whether the alert was retracted."""
        return self.status == "retracted"


def hammer(ra: float, dec: float) -> tuple[float, float]:
    """Hammer-Aitoff projection, RA 180° at the centre growing to the left; x in [-2√2, 2√2]."""
    lon = math.radians(((ra - 180.0 + 180.0) % 360.0) - 180.0)  # 0 at RA 180
    lat = math.radians(dec)
    z = math.sqrt(1 + math.cos(lat) * math.cos(lon / 2))
    x = -2 * math.sqrt(2) * math.cos(lat) * math.sin(lon / 2) / z
    return x, math.sqrt(2) * math.sin(lat) / z


def allsky_map(points: Sequence[MapPoint], width: int = 720,
               highlight: set[str] | None = None, target: str | None = None,
               grid: bool = True) -> str:
    """SVG all-sky map (Hammer-Aitoff, equatorial) of alerts and their 90 % regions.

    ``highlight``: names of the alerts a search matched, drawn large and outlined over the
    others, which are faded. Live alerts are filled in their stream's colour, the others
    hollow and dashed in their status's (:data:`STATUS_COLOURS`). ``target``: of the
    links (``_top`` when the SVG is a document of its own inside the page). ``grid``:
    the limb and the grid (left out of a layer drawn over another map).
    """
    height = width // 2
    sx = (width / 2 - 8) / (2 * math.sqrt(2))
    sy = (height / 2 - 8) / math.sqrt(2)

    def xy(ra: float, dec: float) -> tuple[float, float]:
        x, y = hammer(ra, dec)
        return width / 2 + x * sx, height / 2 - y * sy

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" class="{"allsky" if grid else "allsky matches"}" '
             'aria-label="All-sky map of '
             f'{len(points)} alerts (equatorial, Hammer-Aitoff)">']
    if grid:
        parts += _graticule(xy)
    for p in points:
        parts.append(_alert(p, xy, width, highlight, target))
    parts.append("</svg>")
    return "".join(parts)


def alert_label(p: MapPoint) -> str:
    """``name (stream)``, with the status when it is not live."""
    status = f", {STATUS_LABELS.get(p.status, p.status)}" if p.status != "live" else ""
    return f"{p.name} ({p.stream}{status})"


def _alert(p: MapPoint, xy: Callable[[float, float], tuple[float, float]], width: int,
           highlight: set[str] | None, target: str | None) -> str:
    """One alert of :func:`allsky_map`: a link around its region and its dot."""
    colour = status_colour(p.status, p.stream)
    live = p.status not in STATUS_COLOURS
    to = f' target="{target}"' if target else ""
    parts = [f'<a href="{escape(p.href)}"{to}>']
    outline = [xy(a % 360, d) for a, d in p.region90 or ()]
    # A region across the map's edge (RA 0h) would be drawn across the map: skip it.
    if outline and max(x for x, _ in outline) - min(x for x, _ in outline) < width / 4:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in outline)
        fill = f'fill="{colour}" fill-opacity="0.2"' if live else \
            f'fill="none" stroke-dasharray="{DASHES}"'
        parts.append(f'<polygon points="{path}" {fill} stroke="{colour}" '
                     'stroke-width="0.8"/>')
    x, y = xy(p.ra % 360, p.dec)
    if highlight is None:
        look = 'class="alert{}" r="3"'
    elif p.name in highlight:
        look = 'class="alert match{}" r="5" stroke="#000" stroke-width="1.5"'
    else:
        look = 'class="alert other{}" r="2" fill-opacity="0.35"'
    look = look.format(f" status-{p.status}")
    paint = f'fill="{colour}"' if live else \
        f'fill="none" stroke="{colour}" stroke-width="1.5"'
    if not live and highlight is not None and p.name in highlight:
        paint = 'fill="none"'  # the match's black ring, hollow
    parts.append(f'<circle {look} cx="{x:.1f}" cy="{y:.1f}" {paint}>'
                 f'<title>{escape(alert_label(p))}</title></circle></a>')
    return "".join(parts)


def _graticule(xy: Callable[[float, float], tuple[float, float]]) -> list[str]:
    """The all-sky map's limb, parallels every 30 degrees and meridians every 4 hours."""
    # The limb: RA just below 360 on the left edge, just above 0 on the right edge.
    limb = [xy(359.999, d) for d in range(-90, 91, 5)] + [xy(0.001, d) for d in range(90, -91, -5)]
    parts = ['<polygon points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in limb)
             + '" fill="#f4f6fb" stroke="#888"/>']
    for d in (-60, -30, 0, 30, 60):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(a + 0.001, d) for a in range(0, 361, 5)))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#ccd"/>')
    for a in range(0, 360, 60):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(a + 0.001, d) for d in range(-90, 91, 5)))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#ccd"/>')
        x, y = xy(a + 0.001, 0)
        parts.append(f'<text x="{x + 2:.1f}" y="{y - 2:.1f}" font-size="10" fill="#667">'
                     f'{a // 15}h</text>')
    return parts
