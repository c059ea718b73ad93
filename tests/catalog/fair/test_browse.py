"""Home page, sitemap and API catalog; the pages rendered in headless Chromium (their pixels
here; their requests, paging and ``/docs`` in test_pages_offline)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
from fastapi.testclient import TestClient
from lxml import etree, html
from PIL import Image

from catalog.fair.records import RecordService


def test_home_lists_latest_alerts_and_maps_them(client: TestClient,
                                                seeded: RecordService) -> None:
    """The home page lists the alerts newest first with their state and maps those that have a
    direction, without JavaScript."""
    r = client.get("/")
    assert r.status_code == 200
    doc = html.fromstring(r.text)
    rows = doc.get_element_by_id("latest").findall(".//tr")[1:]
    names = [row.findall("td")[0].text_content() for row in rows]
    assert names == ["IceCube-210302A", "IceCube-200615A", "IceCube-190108A"]  # newest first
    states = [row.findall("td")[4].text_content() for row in rows]
    assert states == ["retracted", "rev. 2 of 2", "rev. 1 of 1"]
    # The map is a resource of its own; a retraction has no position: the retracted alert
    # is where its last positioned revision put it, drawn as retracted.
    assert doc.xpath("//*[@id='allsky']//object/@data") == ["/sky/allsky.svg"]
    svg = etree.fromstring(client.get("/sky/allsky.svg").content)
    dots = {c.findtext("{*}title"): c.get("class") for c in svg.iter("{*}circle")}
    assert dots == {"IceCube-200615A (gold)": "alert status-live",
                    "IceCube-190108A (gold)": "alert status-live",
                    "IceCube-210302A (bronze, retracted)": "alert status-retracted"}
    # Readable without JavaScript: the map above is an SVG; the only scripts are the
    # interactive sky's data (JSON, never run) and its one local module.
    scripts = doc.xpath("//script")
    assert sorted((s.get("type"), s.get("src")) for s in scripts) == [
        ("application/json", None), ("module", "/static/sky.js")]


def test_home_search(client: TestClient, seeded: RecordService) -> None:
    """Search the home page by name, stream, dates and cone; a bad number is a 422 saying so."""
    def names(**params: str) -> list[str]:
        doc = html.fromstring(client.get("/", params=params).text)
        return [row.findall("td")[0].text_content()
                for row in doc.get_element_by_id("latest").findall(".//tr")[1:]
                if len(row.findall("td")) == 5]

    assert names(name="200615") == ["IceCube-200615A"]
    assert names(stream="bronze") == ["IceCube-210302A"]
    assert names(since="2020-01-01", until="2020-12-31") == ["IceCube-200615A"]
    assert names(ra="300", dec="45", radius="1") == ["IceCube-190108A"]
    bad = client.get("/", params={"ra": "abc", "dec": "1", "radius": "1"})
    assert bad.status_code == 422 and "ra must be a number" in bad.text


def test_sitemap_and_api_catalog(client: TestClient, seeded: RecordService) -> None:
    """The sitemap lists the home page and every DOI; the RFC 9727 API catalog lists our APIs
    and is announced by a ``Link`` header."""
    root = etree.fromstring(client.get("/sitemap.xml").content)
    locs = [e.text for e in root.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    assert len(locs) == 1 + 7  # home and every DOI
    r = client.get("/.well-known/api-catalog")
    assert r.headers["content-type"].startswith("application/linkset+json")
    items = {i["href"].rsplit("/", 1)[-1] for i in r.json()["linkset"][0]["item"]}
    assert items == {"v1", "tap", "oai", "catalog"}
    assert 'rel="api-catalog"' in client.head("/.well-known/api-catalog").headers["link"]


def _chromium(url: str, out: Path) -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Debian package chromium is required (apt-get install -y chromium)"
    common = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={out.parent / 'chromium-profile'}"]
    subprocess.run([*common, f"--screenshot={out}", "--window-size=900,2200", url],
                   check=True, capture_output=True, timeout=120)
    dom = subprocess.run([*common, "--dump-dom", url], check=True, capture_output=True,
                         timeout=120)
    return dom.stdout.decode()


def _has_colour(img: Image.Image, rgb: tuple[int, int, int], tol: int = 40,
                min_pixels: int = 30) -> bool:
    """Does the screenshot hold at least ``min_pixels`` pixels near colour ``rgb``?"""
    pixels = np.asarray(img.convert("RGB"), dtype=np.int16)
    near = (np.abs(pixels - np.array(rgb, dtype=np.int16)) <= tol).all(axis=-1)
    return int(near.sum()) >= min_pixels


def test_pages_render_in_chromium(live_url: str, tmp_path: Path) -> None:
    """What a reader sees, rendered by headless Chromium: citation, region outline, sky map dots
    and the tombstone's red border, checked on the screenshots' pixels."""
    page = tmp_path / "record.png"
    dom = html.fromstring(_chromium(f"{live_url}/records/IceCube-200615A", page))
    assert "IceCube Collaboration (2020)" in dom.get_element_by_id("citation").text_content()
    img = Image.open(page)
    assert img.size == (900, 2200)
    assert _has_colour(img, (0x1f, 0x6f, 0xb2))  # 90 % region outline (blue)
    # (the latest version has a 90 % rectangle only: no red 50 % region on this page)
    home = tmp_path / "home.png"
    dom = html.fromstring(_chromium(f"{live_url}/", home))
    assert dom.xpath("//*[@id='allsky']//object/@data") == ["/sky/allsky.svg"]
    assert _has_colour(Image.open(home), (0xc7, 0x91, 0x00), min_pixels=10)  # gold dots
    tomb = tmp_path / "tomb.png"
    dom = html.fromstring(_chromium(f"{live_url}/records/IceCube-210302A", tomb))
    assert "Retracted" in dom.get_element_by_id("tombstone").text_content()
    assert _has_colour(Image.open(tomb), (0xb4, 0x23, 0x18))  # the red tombstone border
    httpx.get(live_url, timeout=10).raise_for_status()
