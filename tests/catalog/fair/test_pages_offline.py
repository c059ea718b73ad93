"""The reader's pages in headless Chromium over the DevTools protocol, every request the
pages make recorded: the home page (paged by its links), a landing page with files, a
tombstone, the DCAT catalogue (a browser's own ``Accept`` gets its HTML view), an unknown
record and ``/docs``. Screenshots of each; no request leaves the test server."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.catalog.fair.test_skyview_browser import Browser


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[Browser]:
    """A fresh headless Chromium (every host but 127.0.0.1 unresolvable) for one test."""
    b = Browser(tmp_path)
    try:
        yield b
    finally:
        b.close()


def _load(b: Browser, url: str, selector: str, timeout: float = 90) -> None:
    """Open ``url`` and wait until it has loaded and shows ``selector``."""
    b.call("Page.navigate", url=url)
    deadline = time.monotonic() + timeout
    ready = f"document.readyState === 'complete' && !!document.querySelector({selector!r})"
    while not b.eval(ready):
        assert time.monotonic() < deadline, f"{url}: no {selector} ({b.errors})"
        time.sleep(0.3)
    time.sleep(1)  # late requests (scripts' own fetches) are recorded too
    b.eval("1")


def _shot(b: Browser, out: Path) -> Image.Image:
    """A screenshot of the whole page."""
    shot = b.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    out.write_bytes(base64.b64decode(shot["data"]))
    return Image.open(out)


def _names(b: Browser) -> list[str]:
    return list(b.eval("[...document.querySelectorAll('#latest tr td:first-child a')]"
                       ".map(a => a.textContent)"))


def _rel(b: Browser, rel: str) -> str | None:
    href = b.eval(f"document.querySelector('nav#paging a[rel={rel}]')?.href ?? null")
    return str(href) if href else None


def test_home_pages_by_its_links_in_chromium(live_url: str, chrome: Browser,
                                            tmp_path: Path) -> None:
    """One alert a page: Chromium follows "Older" to the end, every alert once, newest
    first, then "Newer" back to the start; the pages fetch nothing from elsewhere."""
    url: str | None = f"{live_url}/?limit=1"
    seen: list[str] = []
    while url:
        _load(chrome, url, "#latest")
        seen += _names(chrome)
        url = _rel(chrome, "next")
    assert seen == ["IceCube-210302A", "IceCube-200615A", "IceCube-190108A"]
    img = _shot(chrome, tmp_path / "home-last.png")
    assert img.width >= 900 and img.height > 900
    back: list[str] = []
    url = _rel(chrome, "prev")
    while url:
        _load(chrome, url, "#latest")
        back += _names(chrome)
        url = _rel(chrome, "prev")
    assert back == seen[-2::-1]
    assert chrome.errors == []
    assert _offsite(chrome.requests, live_url) == []


#: (path, an element the page must show) of the pages a reader opens.
PAGES = (("/records/IceCube-200615A", "#citation"),
         ("/records/IceCube-210302A", "#tombstone"), ("/catalog", "table#catalog"),
         ("/docs", ".opblock-summary-path"))


def test_pages_render_with_nothing_from_elsewhere(live_url: str, chrome: Browser,
                                                  tmp_path: Path) -> None:
    """A landing page with files, a tombstone, the catalogue's HTML view and /docs (Swagger
    UI drawing the OpenAPI document) render (screenshots), with no console error and no
    request beyond the test server; an unknown record is an HTML error page. (The home page:
    the test above.)"""
    for path, selector in PAGES:
        _load(chrome, live_url + path, selector)
        img = _shot(chrome, tmp_path / f"{path.strip('/').replace('/', '-') or 'home'}.png")
        assert img.width >= 900 and img.height >= 300, path
        assert chrome.errors == [], (path, chrome.errors)
    assert "nufair" in chrome.eval("document.querySelector('.title').textContent")  # /docs
    _load(chrome, f"{live_url}/records/IceCube-200615A", "#citation")
    assert chrome.eval("[...document.querySelectorAll('a')].some("
                       "a => a.href.endsWith('skymap.fits'))")
    _load(chrome, f"{live_url}/records/no-such-alert", "#error-message")
    assert chrome.eval("document.querySelector('h1').textContent") == "Not found"
    assert _offsite(chrome.requests, live_url) == []
    assert any(u.startswith(f"{live_url}/docs/assets/") for u in chrome.requests)


def _offsite(urls: list[str], base: str) -> list[str]:
    """The requests that went anywhere but the test server."""
    return [u for u in urls if not u.startswith((base + "/", "data:", "blob:"))]
