"""``NUFAIR_SKY_HIPS_URL``: the real pages draw the configured HiPS survey under the sky, and
with no survey configured they fetch nothing from any other host.

The survey is a tiny HiPS folder the test writes (``properties``, ``Moc.fits`` and the
order-3 tiles of a one-colour sky) and serves with a plain static-file server on another
port of 127.0.0.1 (another origin, as a real survey is, so CORS and the pages' CSP are
exercised). Chromium maps every other host to NOTFOUND (see :class:`Browser`).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from mocpy import MOC
from PIL import Image
from pydantic import ValidationError

from catalog.fair.config import FairConfig
from catalog.storage.counterparts import CounterpartStore
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage
from nufair.app import create_app, make_engine
from nufair.edge.headers import page_csp
from nufair.settings import Settings
from tests.catalog.fair.conftest import seed_records
from tests.catalog.fair.test_skyview_browser import (
    HIPS_HEX,
    HIPS_PROPERTIES,
    HIPS_RGB,
    TXS_ALERT,
    Browser,
    _local_only,
    _pixels_near,
)
from tests.serving import free_socket, serving

#: HEALPix order of the test survey's tiles (``hips_order`` of :data:`HIPS_PROPERTIES`).
ORDER = 3


def _jpeg(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), HIPS_RGB).save(buf, format="JPEG")
    return buf.getvalue()


def write_hips(root: Path) -> Path:
    """A HiPS folder of a one-colour sky: ``properties``, ``Moc.fits``, and orders 0-3 of
    64-pixel JPEG tiles (``Norder3/Allsky.jpg`` too: 27 tiles to a row)."""
    root.mkdir(parents=True)
    (root / "properties").write_text(HIPS_PROPERTIES)
    MOC.from_str("0/0-11").save(str(root / "Moc.fits"), format="fits")
    tile = _jpeg(64, 64)
    for order in range(ORDER + 1):
        for npix in range(12 * 4**order):
            folder = root / f"Norder{order}" / f"Dir{npix // 10000 * 10000}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"Npix{npix}.jpg").write_bytes(tile)
    (root / f"Norder{ORDER}" / "Allsky.jpg").write_bytes(_jpeg(27 * 64, 29 * 64))
    return root


class _HipsHandler(SimpleHTTPRequestHandler):
    """Static files with the CORS header a public HiPS server sends; every path noted."""

    seen: list[str]

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def do_GET(self) -> None:
        self.seen.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def seeded_db(db_url: str, fair_cfg: FairConfig) -> str:
    """The FAIR test alerts and IceCube-170922A with counterparts and DOIs (as in
    ``test_skyview_browser``), so that the real pages answer."""
    eng = make_engine(db_url)
    try:
        CatalogStorage(eng).import_records([*seed_records(), TXS_ALERT])
        FairStorage(eng).mint_missing(fair_cfg.doi_prefix, fair_cfg.provider)
        with eng.begin() as conn:
            store = CounterpartStore(conn)
            store.compute_for(store.revisions_with_regions())
    finally:
        eng.dispose()
    return db_url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """A fresh headless Chromium for one test."""
    b = Browser(tmp_path)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def hips(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """The test survey's base URL on its own port, and the paths asked of it."""
    write_hips(tmp_path / "www" / "hips")
    seen: list[str] = []
    handler = type("Handler", (_HipsHandler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 partial(handler, directory=str(tmp_path / "www")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hips", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def survey_site(settings: Settings, seeded_db: str,
                hips: tuple[str, list[str]]) -> Iterator[str]:
    """The real app with ``NUFAIR_SKY_HIPS_URL`` pointing at the test survey."""
    sock = free_socket()
    host, port = sock.getsockname()
    cfg = settings.model_copy(update={"public_base_url": f"http://{host}:{port}",
                                      "sky_hips_url": hips[0]})
    with serving(create_app(cfg), sock) as url:
        yield url


def test_setting_is_checked_and_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset (or empty) is no survey; a URL loses its trailing slash; anything but
    http(s) is refused at start-up."""
    assert Settings().sky_hips_url is None
    monkeypatch.setenv("NUFAIR_SKY_HIPS_URL", "")
    assert Settings().sky_hips_url is None
    monkeypatch.setenv("NUFAIR_SKY_HIPS_URL", "https://alasky.cds.unistra.fr/DSS/DSSColor/")
    assert Settings().sky_hips_url == "https://alasky.cds.unistra.fr/DSS/DSSColor"
    for bad in ("file:///srv/hips", "alasky.cds.unistra.fr/DSS", "https:///DSS"):
        monkeypatch.setenv("NUFAIR_SKY_HIPS_URL", bad)
        with pytest.raises(ValidationError, match="sky_hips_url"):
            Settings()


def test_csp_names_the_survey_origin_only_when_set() -> None:
    """The pages' policy lets them reach the survey's origin, and no other host."""
    off = page_csp("https://nufair.example.org")
    on = page_csp("https://nufair.example.org", "https://alasky.cds.unistra.fr/DSS/DSSColor")
    assert "alasky" not in off and "https:" not in off.replace("https://nufair.example.org",
                                                               "")
    directives = {d.split()[0]: d.split()[1:] for d in on.split("; ")}
    assert "https://alasky.cds.unistra.fr" in directives["img-src"]
    assert "https://alasky.cds.unistra.fr" in directives["connect-src"]


@pytest.mark.parametrize("path", ["/records/IceCube-170922A", "/"])
def test_real_pages_draw_the_configured_survey(survey_site: str, hips: tuple[str, list[str]],
                                               browser: Browser, tmp_path: Path,
                                               path: str) -> None:
    """A landing page and the home page, as served: the sky asks the configured survey for
    its ``properties`` and tiles, paints them under the contours, and nothing else leaves
    this machine; no console error (CSP, CORS) on the way."""
    survey, seen = hips
    page = httpx.get(f"{survey_site}{path}", timeout=120)
    assert page.status_code == 200
    assert survey in page.text  # the page's sky data names it
    assert survey.removesuffix("/hips") in page.headers["content-security-policy"]
    assert browser.open(f"{survey_site}{path}") == "survey"
    deadline = time.monotonic() + 30
    while not any(p.startswith(f"/hips/Norder{ORDER}/") for p in seen):
        assert time.monotonic() < deadline, seen
        time.sleep(0.5)
    while True:  # the tiles drawn (SwiftShader on a loaded machine takes its time)
        img = browser.screenshot(tmp_path / "sky.png", ".sky-interactive")
        if _pixels_near(img, HIPS_HEX, tol=25) > img.width * img.height // 10:
            break
        assert time.monotonic() < deadline + 60, (seen, browser.errors)
        time.sleep(2)
    assert "/hips/properties" in seen
    assert browser.errors == []
    elsewhere = [u for u in _local_only(browser.requests, survey_site)
                 if not u.startswith(survey + "/")]
    assert elsewhere == []


def test_real_pages_without_survey_fetch_nothing_else(settings: Settings, seeded_db: str,
                                                      browser: Browser) -> None:
    """No setting: the sky is the grid and every request goes to the site itself."""
    assert settings.sky_hips_url is None
    sock = free_socket()
    host, port = sock.getsockname()
    cfg = settings.model_copy(update={"public_base_url": f"http://{host}:{port}"})
    with serving(create_app(cfg), sock) as site:
        for path in ("/records/IceCube-170922A", "/"):
            assert browser.open(f"{site}{path}") == "grid"
        assert browser.errors == []
        assert _local_only(browser.requests, site) == []
