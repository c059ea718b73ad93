"""The home page's map of every alert as resources of their own (``/sky/alerts.json``,
``/sky/allsky.svg``) and the alerts' statuses on every map, checked against the database
(independent queries) and against spherical geometry (astropy)."""

from __future__ import annotations

import json
import math

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from fastapi.testclient import TestClient
from lxml import etree, html
from sqlalchemy import text
from sqlalchemy.engine import Engine

from catalog.fair import skymap
from catalog.fair.records import RecordService
from catalog.fair.skyplot import STATUS_COLOURS
from catalog.models import ErrorBox

#: Where the seeded alerts are drawn (tests/catalog/fair/conftest.py): the retracted one at
#: the position of its revision before the retraction.
POSITIONS = {"IceCube-200615A": (142.95, 3.66), "IceCube-210302A": (10.0, -20.0),
             "IceCube-190108A": (300.5, 45.25)}


def _set_status(engine: Engine, name: str, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE events SET status = :s, status_reason = 'test', "
                          "updated_at = now() WHERE name = :n"), {"s": status, "n": name})


def _db_statuses(engine: Engine) -> dict[str, str]:
    """Every alert that has a positioned revision, with its status (the database's word)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT name, status FROM events e WHERE EXISTS (SELECT 1 FROM revisions r "
            "WHERE r.event_pk = e.id AND r.ra IS NOT NULL)")).all()
    return {r.name: r.status for r in rows}


def test_overlay_json_has_every_alert_and_its_status(client: TestClient, seeded: RecordService,
                                                     engine: Engine) -> None:
    """Every alert with a direction is in the compact JSON, where it was last seen, with
    the status the database gives it; the format says its precision and tolerance."""
    _set_status(engine, "IceCube-190108A", "likely_background")
    r = client.get(skymap.JSON_PATH)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert (doc["format"], doc["digits"], doc["tolerance_deg"]) == (skymap.FORMAT, 2, 0.05)
    statuses = [s["name"] for s in doc["statuses"]]
    rows = {row[0]: row for row in doc["alerts"]}
    assert {n: statuses[row[2]] for n, row in rows.items()} == _db_statuses(engine) == {
        "IceCube-200615A": "live", "IceCube-210302A": "retracted",
        "IceCube-190108A": "likely_background"}
    assert {n: (row[3], row[4]) for n, row in rows.items()} == POSITIONS
    assert [s["dashed"] for s in doc["statuses"]] == [False, True, True]
    assert doc["streams"][rows["IceCube-210302A"][1]]["name"] == "bronze"
    # Degrees at two decimals; the 90 % box of IceCube-200615A's revision 1 by its corners.
    flat = rows["IceCube-200615A"][5]
    assert len(flat) >= 8 and all(round(v, 2) == v for v in flat)


def test_overlay_validators_and_gzip(client: TestClient, seeded: RecordService,
                                     engine: Engine) -> None:
    """ETag and Last-Modified; a current copy gets 304; gzip when asked; a status change
    gives a new ETag and the new status."""
    first = client.get(skymap.JSON_PATH, headers={"Accept-Encoding": "gzip"})
    etag = first.headers["etag"]
    assert first.headers["content-encoding"] == "gzip"
    assert first.headers["cache-control"] == "no-cache" and first.headers["last-modified"]
    again = client.get(skymap.JSON_PATH, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    since = client.get(skymap.JSON_PATH,
                       headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    _set_status(engine, "IceCube-200615A", "likely_background")
    changed = client.get(skymap.JSON_PATH, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    doc = changed.json()
    row = next(a for a in doc["alerts"] if a[0] == "IceCube-200615A")
    assert doc["statuses"][row[2]]["name"] == "likely_background"
    svg = client.get(skymap.SVG_PATH, headers={"If-None-Match": changed.headers["etag"]})
    assert svg.status_code == 304  # both resources follow the same state


def test_static_map_draws_statuses(client: TestClient, seeded: RecordService,
                                   engine: Engine) -> None:
    """The static SVG: one dot per alert, classed by the database's status; an alert that
    is not live is hollow in its status's colour with a dashed region; links leave the
    ``<object>`` for the page."""
    _set_status(engine, "IceCube-190108A", "likely_background")
    r = client.get(skymap.SVG_PATH)
    assert r.headers["content-type"] == "image/svg+xml"
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    svg = etree.fromstring(r.content)
    dots = {c.findtext("{*}title").split(" (")[0]: c for c in svg.iter("{*}circle")
            if c.findtext("{*}title")}
    assert {n: c.get("class").split("status-")[1] for n, c in dots.items()} == \
        _db_statuses(engine)
    for dot in dots.values():
        status = dot.get("class").split("status-")[1]
        if status == "live":
            assert dot.get("fill") != "none"
        else:
            assert dot.get("fill") == "none" and dot.get("stroke") == STATUS_COLOURS[status]
    links = list(svg.iter("{*}a"))
    assert len(links) == 3 and all(a.get("target") == "_top" for a in links)
    dashed = [p for a in links for p in a.iter("{*}polygon") if p.get("stroke-dasharray")]
    solid = [p for a in links for p in a.iter("{*}polygon") if not p.get("stroke-dasharray")]
    assert all(p.get("stroke") in STATUS_COLOURS.values() for p in dashed)
    assert all(p.get("stroke") not in STATUS_COLOURS.values() for p in solid)
    assert len(dashed) >= 1 and len(solid) >= 1


def test_home_page_carries_no_overlay(client: TestClient, seeded: RecordService) -> None:
    """The page names the map's resources and carries none of its data: the sky's inline
    JSON holds no alert, the static map is an ``<object>``; the legend has the statuses."""
    r = client.get("/")
    doc = html.fromstring(r.text)
    data = json.loads(doc.xpath("//script[@class='sky-data']")[0].text)
    assert (data["overlay"], data["regions"], data["markers"]) == (skymap.JSON_PATH, [], [])
    assert doc.xpath("//*[@id='allsky']//object/@data") == [skymap.SVG_PATH]
    csp = r.headers["content-security-policy"]
    assert "object-src 'self'" in csp and "frame-src 'self'" in csp
    legend = doc.get_element_by_id("legend")
    assert {c.get("class") for c in legend.iter("{*}circle", "circle")} >= {
        "status-retracted", "status-likely_background"}
    searched = html.fromstring(client.get("/", params={"name": "IceCube-200615A"}).text)
    data = json.loads(searched.xpath("//script[@class='sky-data']")[0].text)
    assert data["highlight"] == ["IceCube-200615A"]


def test_landing_page_shows_likely_background(client: TestClient, seeded: RecordService,
                                              engine: Engine) -> None:
    """A likely-background alert's landing page: dashed regions and its status in the SVG,
    the caption and the interactive sky's labels; a live alert's stay solid."""
    _set_status(engine, "IceCube-200615A", "likely_background")
    doc = html.fromstring(client.get("/records/IceCube-200615A").text)
    figure = doc.get_element_by_id("skyplot")
    polygons = figure.xpath(".//*[local-name()='polygon']")
    assert polygons and all(p.get("stroke-dasharray") for p in polygons)
    assert "likely background" in figure.text_content()
    sky = json.loads(doc.xpath("//script[@class='sky-data']")[0].text)
    own = [r for r in sky["regions"] if r["kind"] in ("region50", "region90")]
    assert own and all(r["dashed"] and "(likely background)" in r["label"] for r in own)
    live = html.fromstring(client.get("/records/IceCube-190108A").text)
    assert not live.xpath("//*[@id='skyplot']//*[@stroke-dasharray]")
    svg = client.get("/records/IceCube-200615A/skyplot.svg").text
    assert "stroke-dasharray" in svg and "likely background" in svg


def _vec(ra: float, dec: float) -> np.ndarray:
    a, d = math.radians(ra), math.radians(dec)
    return np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])


def _chord_midpoints(poly: list[tuple[float, float]]) -> SkyCoord:
    """The middle of each great-circle chord between consecutive vertices (what a sky
    viewer draws), closing the polygon."""
    mids = []
    for (a1, d1), (a2, d2) in zip(poly, poly[1:] + poly[:1], strict=True):
        v = _vec(a1, d1) + _vec(a2, d2)
        v /= np.linalg.norm(v)
        mids.append((math.degrees(math.atan2(v[1], v[0])), math.degrees(math.asin(v[2]))))
    return SkyCoord([m[0] for m in mids] * u.deg, [m[1] for m in mids] * u.deg)


def test_circle_outlines_stay_within_the_tolerance() -> None:
    """Every vertex on the circle, every chord's middle within the stated tolerance of it
    (astropy separations), for small and large circles at the equator and near a pole."""
    tol = skymap.TOLERANCE_DEG
    for radius in (0.3, 1.0, 5.0, 20.0):
        for dec in (0.0, 60.0, -85.0):
            poly = skymap.outline(40.0, dec, ErrorBox(shape="circle", radius_deg=radius))
            assert poly is not None and len(poly) <= skymap.MAX_CIRCLE
            centre = SkyCoord(40.0 * u.deg, dec * u.deg)
            pts = SkyCoord([p[0] for p in poly] * u.deg, [p[1] for p in poly] * u.deg)
            assert np.allclose(centre.separation(pts).deg, radius, atol=1e-9)
            inside = radius - centre.separation(_chord_midpoints(poly)).deg
            assert inside.max() <= tol + 1e-9, (radius, dec, inside.max())


def test_box_outlines_keep_corners_and_stay_within_the_tolerance() -> None:
    """A box's polygon has its four corners; the great-circle chords along its parallels
    stray from them by at most the tolerance (wide boxes near a pole get more points)."""
    tol = skymap.TOLERANCE_DEG
    for dec, width in ((5.0, 2.0), (70.0, 10.0), (-80.0, 30.0)):
        box = ErrorBox(shape="box", ra_plus=width / 2, ra_minus=width / 2, dec_plus=1.0,
                       dec_minus=1.0, radius_deg=None)
        poly = skymap.outline(200.0, dec, box)
        assert poly is not None
        corners = {(200.0 + sx * width / 2, dec + sy) for sx in (-1, 1) for sy in (-1, 1)}
        assert corners <= {(round(a, 9), round(d, 9)) for a, d in poly}
        mids = _chord_midpoints(poly)
        for (_, d1), (_, d2), mid in zip(poly, poly[1:] + poly[:1], mids, strict=True):
            if d1 == d2:  # along a parallel: the chord bulges towards the pole
                assert abs(mid.dec.deg - d1) <= tol + 1e-9, (dec, width, mid.dec.deg - d1)
        if abs(dec) > 60:
            assert len(poly) > 4
