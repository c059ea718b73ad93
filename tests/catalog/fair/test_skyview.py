"""The interactive sky's overlay data and CSP, checked against astropy and a re-parse."""

from __future__ import annotations

import json
import re
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from jinja2 import Environment, FileSystemLoader
from lxml import html

from catalog.counterparts.models import CounterpartPublic
from catalog.fair import skyview
from catalog.fair.http import TEMPLATES_DIR
from catalog.fair.records import RecordService
from catalog.fair.skyplot import STREAM_COLOURS, MapPoint, region_outline
from catalog.models import ErrorBox, RevisionPublic
from nufair.edge.headers import page_csp

TXS = CounterpartPublic(
    catalogue="4fgl-dr4", catalogue_label="Fermi-LAT 4FGL", source_name="4FGL J0509.4+0542",
    level=90, match="position", separation_deg=0.08, ra=77.3593, dec=5.7014,
    source_class="bll", association="TXS 0506+056", blazar=True,
    url="https://example.org/4FGL_J0509.4+0542")


#: A containment level without a region.
NO_REGION = ErrorBox(radius_deg=None, shape=None)


def _vertices(region: skyview.Region) -> SkyCoord:
    ra, dec = np.array(region.polygon).T
    return SkyCoord(ra * u.deg, dec * u.deg)


def test_record_view_of_a_revised_alert(seeded: RecordService) -> None:
    """IceCube-200615A version 1 (a 90 % box) over version 0 (90 % and 50 % circles): the
    box's outline lies on its edges, version 0's 90 % circle is dashed at its radius from its
    own best fit (astropy), and the field of view holds every shape."""
    rec = seeded.load("IceCube-200615A")
    rev = rec.revision
    v0 = rec.versions[0].revision
    view = skyview.record_view(rev, [v0])
    assert view is not None and view.mode == "local"
    kinds = [r.kind for r in view.regions]
    assert kinds == ["revision", "region90"]  # version 1 has no 50 % region
    box = view.regions[1]
    ra, dec = np.array(box.polygon).T
    e = rev.error90
    assert rev.ra is not None and rev.dec is not None
    assert e.ra_plus and e.ra_minus and e.dec_plus and e.dec_minus
    on_dec_edge = np.isclose(dec, rev.dec + e.dec_plus) | np.isclose(dec, rev.dec - e.dec_minus)
    on_ra_edge = np.isclose(ra, rev.ra + e.ra_plus) | np.isclose(ra, rev.ra - e.ra_minus)
    assert (on_dec_edge | on_ra_edge).all()
    older = view.regions[0]
    assert older.dashed and v0.error90.radius_deg is not None
    assert v0.ra is not None and v0.dec is not None
    seps = _vertices(older).separation(SkyCoord(v0.ra * u.deg, v0.dec * u.deg)).deg
    assert np.allclose(seps, v0.error90.radius_deg, atol=1e-6)
    centre = SkyCoord(rev.ra * u.deg, rev.dec * u.deg)
    for region in view.regions:
        assert (_vertices(region).separation(centre).deg < view.fov / 2).all()
    assert [m.kind for m in view.markers] == ["revision", "bestfit"]
    assert (view.markers[-1].ra, view.markers[-1].dec) == (rev.ra, rev.dec)


def test_counterparts_are_markers_once_each() -> None:
    """A source found at both levels is one marker, blazar-coloured, linking to its page."""
    rev = _revision(ra=77.43, dec=5.72,
                    error90=ErrorBox(ra_plus=0.95, ra_minus=0.65, dec_plus=0.5, dec_minus=0.3,
                                     radius_deg=None, shape="box"))
    at50 = TXS.model_copy(update={"level": 50})
    view = skyview.record_view(rev, (), [TXS, at50])
    assert view is not None
    sources = [m for m in view.markers if m.kind == "counterpart"]
    assert len(sources) == 1
    assert sources[0].label == "4FGL J0509.4+0542 (bll)"
    assert sources[0].colour == skyview.COLOURS["blazar"] and sources[0].href == TXS.url


def _revision(ra: float | None, dec: float | None,
              error90: ErrorBox | None = None) -> RevisionPublic:
    """A revision with what :func:`skyview.record_view` reads (no validation: the rest of
    a revision does not matter here)."""
    return RevisionPublic.model_construct(number=1, ra=ra, dec=dec, error50=NO_REGION,
                                          error90=error90 or NO_REGION)


def test_no_direction_no_sky() -> None:
    """A retraction (no direction) has no sky."""
    assert skyview.record_view(_revision(ra=None, dec=None)) is None


def test_allsky_view_colours_and_links() -> None:
    """Every alert is a marker (and a region when it has one), coloured by stream, grey when
    retracted, linking to its record."""
    points = [MapPoint("A", "/records/A", 10.0, -20.0, "gold", "live", [(9.0, -21.0),
                                                                        (11.0, -21.0),
                                                                        (10.0, -19.0)]),
              MapPoint("B", "/records/B", 200.0, 45.0, "bronze", "retracted", None)]
    view = skyview.allsky_view(points)
    assert (view.mode, view.fov) == ("allsky", 360.0)
    assert [(m.label, m.colour, m.href) for m in view.markers] == [
        ("A (gold)", STREAM_COLOURS["gold"], "/records/A"),
        ("B (bronze, retracted)", "#999999", "/records/B")]
    assert len(view.regions) == 1 and view.regions[0].href == "/records/A"


def test_json_is_safe_inside_a_script_and_reparses() -> None:
    """The JSON cannot end its ``<script>`` early, and reads back to the view's values."""
    points = [MapPoint("</script><b>x", "/records/x", 1.234567, 2.0, "gold", "live", None)]
    text = skyview.allsky_view(points).to_json()
    assert "</" not in text
    data = json.loads(text)
    assert data["markers"][0]["label"] == "</script><b>x (gold)"
    assert data["markers"][0]["ra"] == 1.23  # two decimals on the whole sky


def test_allsky_outlines_are_simplified_and_keep_their_corners() -> None:
    """The home page's outlines: a dozen vertices (the SVG's 24 every second one), the box
    corners among them; one alert's own view keeps all of its vertices and 4 decimals."""
    box = ErrorBox(shape="box", ra_plus=2.0, ra_minus=1.0, dec_plus=1.5, dec_minus=0.5,
                   radius_deg=None)
    outline = region_outline(100.0, 10.0, box, n=6)
    assert outline is not None and len(outline) == 24
    (region,) = skyview.allsky_view([MapPoint("A", "/records/A", 100.0, 10.0, "gold", "live",
                                              outline)]).regions
    assert len(region.polygon) == 12
    corners = {(99.0, 11.5), (102.0, 11.5), (102.0, 9.5), (99.0, 9.5)}
    assert corners <= {(round(a, 6), round(d, 6)) for a, d in region.polygon}
    circle = region_outline(100.0, 10.0, ErrorBox(shape="circle", radius_deg=3.0), n=6)
    assert circle is not None
    (region,) = skyview.allsky_view([MapPoint("A", "/records/A", 100.0, 10.0, "gold", "live",
                                              circle)]).regions
    assert region.polygon == circle[::2]


def test_partial_renders_data_and_module(tmp_path: Path) -> None:
    """``sky.html`` holds the view as JSON data and loads the glue as a module; nothing
    without a view."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True)
    partial = env.get_template("sky.html")
    assert partial.render(sky=None).strip() == ""
    view = skyview.allsky_view([MapPoint("A", "/records/A", 1.0, 2.0, "gold", "live", None)])
    doc = html.fromstring(f"<div>{partial.render(sky=view)}</div>")
    data = doc.xpath("//script[@class='sky-data']")[0]
    assert data.get("type") == "application/json"
    assert json.loads(data.text) == json.loads(view.to_json())
    module = doc.xpath("//script[@type='module']")[0]
    assert module.get("src") == f"{skyview.STATIC_URL}/sky.js"
    assert (skyview.STATIC_DIR / "sky.js").is_file()
    assert (skyview.STATIC_DIR / "aladin" / "aladin.js").stat().st_size > 1_000_000


def _directives(csp: str) -> dict[str, list[str]]:
    return {p.split()[0]: p.split()[1:] for p in csp.split(";") if p.strip()}


def test_csp_with_sky() -> None:
    """The pages' CSP with the sky: scripts from this service and WebAssembly, no
    ``'unsafe-inline'`` nor ``'unsafe-eval'``; the survey's origin only when one is set."""
    plain = ("default-src 'none'; script-src 'none'; style-src 'sha256-AAAA'; "
             "img-src 'self' https://nufair.example data:; frame-ancestors 'none'")
    base = _directives(plain)
    offline = _directives(skyview.with_sky(plain, None))
    # The pages' own policy is the plain one with the sky already in it.
    assert _directives(page_csp("https://nufair.example"))["script-src"] == \
        offline["script-src"]
    assert offline["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    assert set(base["style-src"]) < set(offline["style-src"])
    assert offline["frame-ancestors"] == base["frame-ancestors"] == ["'none'"]
    assert offline["default-src"] == ["'none'"]
    text = " ".join(" ".join(v) for v in offline.values())
    assert "unsafe-inline" not in text and "'unsafe-eval'" not in text
    assert not re.search(r"https?://(?!nufair\.example)", text)
    online = _directives(skyview.with_sky(page_csp("https://nufair.example"),
                                          "https://alasky.cds.unistra.fr/DSS/DSSColor/"))
    assert "https://alasky.cds.unistra.fr" in online["img-src"]
    assert "https://alasky.cds.unistra.fr" in online["connect-src"]
