"""The interactive sky in headless Chromium, driven over the DevTools protocol: Aladin Lite
draws the contours over a coordinate grid, no console error, no request leaves 127.0.0.1.

The pages here are the real app (real database, real edge) with two test routes that render
the ``sky.html`` partial the way ``record.html`` and ``home.html`` include it, under the
pages' CSP plus :func:`catalog.fair.skyview.with_sky`.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from mocpy import MOC
from PIL import Image
from sqlalchemy import text
from websockets.sync.client import ClientConnection, connect

from catalog.counterparts.landing import landing_context
from catalog.fair import skyplot, skyview
from catalog.fair.browse import _map_points
from catalog.fair.config import FairConfig
from catalog.fair.http import TEMPLATES, get_fair
from catalog.handlers.context import catalog_context
from catalog.storage.counterparts import CounterpartStore
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage
from nufair.app import create_app, make_engine
from nufair.edge.headers import page_csp
from nufair.settings import Settings
from tests.catalog.fair.conftest import seed_records
from tests.catalog.records_factory import record
from tests.serving import free_port, free_socket, serving

#: The page of one record and the home page's map, as the real templates will hold them.
PAGE = TEMPLATES.env.from_string(
    '{% extends "base.html" %}{% block head %}<link rel="icon" href="data:,">{% endblock %}'
    '{% block main %}<h1>{{ title }}</h1>'
    '<figure id="{{ sky.fallback if sky else "skyplot" }}">{{ svg|safe }}</figure>'
    '{% include "sky.html" %}{% endblock %}')
#: IceCube-170922A (GCN circular 21916): its 90 % box holds TXS 0506+056 (4FGL J0509.4+0542).
TXS_ALERT = dataclasses.replace(
    record(run=130033, event=50579430, rev=1, ra=77.43, dec=5.72, name="IceCube-170922A",
           box90=(0.95, 0.65, 0.50, 0.30), time=datetime(2017, 9, 22, 20, 54, 30, tzinfo=UTC),
           issued=datetime(2017, 9, 23, 1, 0, tzinfo=UTC)))


def _install_pages(app: Any, survey: str | None) -> None:
    """Two test pages with a survey of the test's choice: a record (``/t/records/{key}``)
    and the map (the real pages have none configured)."""

    def respond(request: Request, title: str, svg: str, sky: skyview.SkyView | None
                ) -> HTMLResponse:
        base = str(request.base_url)
        body = PAGE.render(title=title, svg=svg, sky=sky)
        return HTMLResponse(body, headers={
            "Content-Security-Policy": skyview.with_sky(page_csp(base), survey)})

    def record_page(request: Request, key: str) -> HTMLResponse:
        ctx = get_fair(request)
        rec = ctx.records.load(key)
        rev = rec.revision
        others = [v.revision for v in rec.versions if v.revision.number != rev.number]
        cps = landing_context(ctx.fair.engine, rec.event.id, rev.number)
        sky = skyview.record_view(rev, others, [r.item for r in cps.rows], survey)
        return respond(request, rec.name, skyplot.local_plot(rev, others), sky)

    def home_page(request: Request) -> HTMLResponse:
        points = _map_points(catalog_context(request).storage)
        return respond(request, "map", skyplot.allsky_map(points),
                       skyview.allsky_view(points, survey))

    app.add_api_route("/t/records/{key}", record_page, response_class=HTMLResponse)
    app.add_api_route("/t/hips/{path:path}", _fake_hips, response_model=None)
    app.add_api_route("/t/home", home_page, response_class=HTMLResponse)


#: The ``properties`` of the fake HiPS: a one-colour sky of JPEG tiles, orders 0 to 3.
HIPS_PROPERTIES = """creator_did = ivo://nufair.test/P/flat
obs_title = A flat test sky
dataproduct_type = image
hips_version = 1.4
hips_frame = equatorial
hips_order = 3
hips_order_min = 0
hips_tile_width = 64
hips_tile_format = jpeg
"""
#: The colour of every tile of the fake HiPS (a dark teal no overlay uses).
HIPS_RGB = (0x20, 0x50, 0x50)
HIPS_HEX = "#205050"


def _fake_hips(path: str) -> Response:
    """A HiPS survey served by the test app: its properties, its MOC and any tile."""
    if path == "properties":
        return Response(HIPS_PROPERTIES, media_type="text/plain")
    if path == "Moc.fits":  # the whole sky (mocpy writes it)
        with tempfile.TemporaryDirectory() as tmp:
            MOC.from_str("0/0-11").save(f"{tmp}/moc.fits", format="fits")
            return Response(Path(f"{tmp}/moc.fits").read_bytes(), media_type="application/fits")
    if path.endswith(".jpg"):
        # Allsky.jpg: the 768 tiles of order 3 at 64 pixels, 27 to a row (29 rows).
        size = (27 * 64, 29 * 64) if path.endswith("Allsky.jpg") else (64, 64)
        buf = io.BytesIO()
        Image.new("RGB", size, HIPS_RGB).save(buf, format="JPEG")
        return Response(buf.getvalue(), media_type="image/jpeg")
    return Response(status_code=404)


@pytest.fixture
def seeded_db(db_url: str, fair_cfg: FairConfig) -> str:
    """The FAIR test alerts and IceCube-170922A, with their counterparts computed and their
    DOIs minted (so that the real landing pages answer)."""
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


def _serve(settings: Settings, survey: str | None) -> Iterator[str]:
    sock = free_socket()
    host, port = sock.getsockname()
    cfg = settings.model_copy(update={"public_base_url": f"http://{host}:{port}"})
    app = create_app(cfg)
    _install_pages(app, survey)
    with serving(app, sock) as base:
        yield base


@pytest.fixture
def site(settings: Settings, seeded_db: str) -> Iterator[str]:
    """The app with the test pages, no HiPS survey configured (the offline default)."""
    yield from _serve(settings, None)


@pytest.fixture
def site_with_survey(settings: Settings, seeded_db: str) -> Iterator[str]:
    """The app with a HiPS survey that answers: the fake one it serves itself."""
    sock = free_socket()
    host, port = sock.getsockname()
    cfg = settings.model_copy(update={"public_base_url": f"http://{host}:{port}"})
    app = create_app(cfg)
    _install_pages(app, f"http://{host}:{port}/t/hips")
    with serving(app, sock) as base:
        yield base


@pytest.fixture
def site_unreachable_survey(settings: Settings, seeded_db: str) -> Iterator[str]:
    """The app with a HiPS survey that does not answer (a closed port of this machine)."""
    yield from _serve(settings, f"http://127.0.0.1:{free_port()}/DSS/DSSColor")


class Browser:
    """Headless Chromium (WebGL2 by SwiftShader) and one DevTools page session that records
    every request, console message, log entry and uncaught exception."""

    def __init__(self, workdir: Path) -> None:
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        assert exe, "Debian package chromium is required (apt-get install -y chromium)"
        port = free_port()
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--hide-scrollbars", "--no-first-run",
             "--use-angle=swiftshader", "--use-gl=angle", "--enable-unsafe-swiftshader",
             "--disable-background-networking", "--disable-component-update",
             "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
             f"--remote-debugging-port={port}", f"--user-data-dir={workdir / 'profile'}",
             "--window-size=1000,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._connect(port)
        except BaseException:
            self.proc.kill()
            self.proc.wait(timeout=20)
            raise

    def _connect(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        page = next(p for p in pages if p["type"] == "page")
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(page["webSocketDebuggerUrl"], max_size=2**26))
        self.next_id = 0
        self.requests: list[str] = []
        self.errors: list[str] = []
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def close(self) -> None:
        """Stop the browser."""
        self._stack.close()
        self.proc.terminate()
        self.proc.wait(timeout=20)

    def _note(self, msg: dict[str, Any]) -> None:
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(p["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description")))
                                        for a in p["args"]))
        elif method == "Runtime.exceptionThrown":
            details = p["exceptionDetails"]
            self.errors.append(str(details.get("exception", {}).get("description")
                                   or details.get("text"))[:500])
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            self.errors.append(f"{p['entry']['source']}: {p['entry']['text'][:700]}"
                               f" {p['entry'].get('url', '')[:200]}")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a DevTools command and wait for its answer (noting the events meanwhile)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=120))
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return dict(msg["result"])
            self._note(msg)

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        out = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return out["result"].get("value")

    def open(self, url: str, timeout: float = 90) -> str:
        """Load ``url`` and wait until the sky says it is ready; returns its mode."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = self.eval("document.querySelector('.sky-interactive')?.dataset.ready")
            if ready:
                time.sleep(3)  # a few frames for the WebGL grid and the overlays' canvas
                self.eval("1")  # collect the events of those seconds
                return str(ready)
            time.sleep(0.5)
        raise AssertionError(f"the sky did not start: {self.errors}")

    def screenshot(self, out: Path, selector: str) -> Image.Image:
        """A PNG of the element ``selector``, saved to ``out``."""
        box = self.eval(f"(() => {{const r = document.querySelector('{selector}')"
                        ".getBoundingClientRect(); return [r.x, r.y + window.scrollY,"
                        " r.width, r.height];})()")
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": box[0], "y": box[1], "width": box[2], "height": box[3],
                               "scale": 1})
        out.write_bytes(base64.b64decode(shot["data"]))
        return Image.open(io.BytesIO(out.read_bytes()))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """A fresh headless Chromium for one test."""
    b = Browser(tmp_path)
    try:
        yield b
    finally:
        b.close()


def _pixels_near(img: Image.Image, rgb: str, tol: int = 40) -> int:
    """How many pixels of ``img`` are near the colour ``#rrggbb``."""
    want = np.array([int(rgb[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    pixels = np.asarray(img.convert("RGB"), dtype=np.int16)
    return int((np.abs(pixels - want) <= tol).all(axis=-1).sum())


def _local_only(urls: list[str], base: str) -> list[str]:
    """The requests that went anywhere but this machine's test server."""
    return [u for u in urls if not (u.startswith(base + "/") or u.startswith(("data:", "blob:")))]


def test_landing_page_sky_offline(site: str, browser: Browser, tmp_path: Path,
                                  db_url: str) -> None:
    """A landing page: Aladin Lite draws the 50 % and 90 % regions, the best fit and the
    counterpart markers over a coordinate grid; the SVG is hidden; nothing else is fetched.
    The real page, as a reader opens it."""
    mode = browser.open(f"{site}/records/IceCube-170922A")
    assert mode == "grid"
    img = browser.screenshot(tmp_path / "record-sky.png", ".sky-interactive")
    assert img.width > 300 and img.height >= 300
    assert _pixels_near(img, skyview.COLOURS["region90"]) > 200  # the 90 % contour, filled
    assert browser.eval("getComputedStyle(document.querySelector('#skyplot > svg')).display"
                        ) == "none"
    # TXS 0506+056 is a counterpart of IceCube-170922A: its marker is among the sources.
    names = browser.eval("JSON.parse(document.querySelector('script.sky-data').textContent)"
                         ".markers.map(m => m.label)")
    assert any(n.startswith("4FGL J0509.4+0542") for n in names)
    assert _pixels_near(img, skyview.COLOURS["blazar"], tol=50) > 10
    assert browser.errors == []
    assert _local_only(browser.requests, site) == []
    assert any(u.endswith("/static/aladin/aladin.js") for u in browser.requests)


def test_home_page_sky_offline(site: str, browser: Browser, tmp_path: Path,
                               db_url: str) -> None:
    """The home page's all-sky map in Aladin Lite: every alert's 90 % region, over a grid
    (the real home page), from the overlay it fetches; a likely-background alert in its
    status's colour; the static map (an ``<object>``) hidden."""
    eng = make_engine(db_url)
    try:
        with eng.begin() as conn:
            conn.execute(text("UPDATE events SET status = 'likely_background' "
                              "WHERE name = 'IceCube-190108A'"))
    finally:
        eng.dispose()
    assert browser.open(f"{site}/") == "grid"
    img = browser.screenshot(tmp_path / "home-sky.png", ".sky-interactive")
    assert _pixels_near(img, skyplot.STREAM_COLOURS["gold"], tol=45) > 20
    assert _pixels_near(img, skyplot.STATUS_COLOURS["likely_background"], tol=45) > 10
    assert any(u.endswith("/sky/alerts.json") for u in browser.requests)
    assert browser.eval("getComputedStyle(document.querySelector('#allsky > .sky-static'))"
                        ".display") == "none"
    assert browser.errors == []
    assert _local_only(browser.requests, site) == []


def test_unreachable_survey_falls_back_to_grid(site_unreachable_survey: str,
                                               browser: Browser, tmp_path: Path) -> None:
    """A configured HiPS survey that does not answer: the probe of its ``properties`` fails
    (the one network error), and the sky is the grid with the contours all the same."""
    site = site_unreachable_survey
    assert browser.open(f"{site}/t/records/IceCube-200615A") == "grid"
    img = browser.screenshot(tmp_path / "fallback-sky.png", ".sky-interactive")
    assert _pixels_near(img, skyview.COLOURS["region90"]) > 200
    probes = [u for u in browser.requests if u.endswith("/DSS/DSSColor/properties")]
    assert len(probes) == 1 and probes[0].startswith("http://127.0.0.1:")
    assert all("properties" in e for e in browser.errors), browser.errors
    assert all(u.startswith(("http://127.0.0.1:", "data:", "blob:")) for u in browser.requests)


def test_reachable_survey_is_drawn_under_the_contours(site_with_survey: str, browser: Browser,
                                                      tmp_path: Path) -> None:
    """A survey that answers is the sky's background (its tiles' colour fills the view) with
    the contours over it; its tiles come from where it was configured, and nowhere else."""
    site = site_with_survey
    assert browser.open(f"{site}/t/records/IceCube-170922A") == "survey"
    time.sleep(3)  # the tiles
    img = browser.screenshot(tmp_path / "survey-sky.png", ".sky-interactive")
    assert _pixels_near(img, HIPS_HEX, tol=25) > img.width * img.height // 4
    assert _pixels_near(img, skyview.COLOURS["region90"], tol=50) > 200
    assert any("/t/hips/Norder" in u for u in browser.requests)
    assert browser.errors == []
    assert _local_only(browser.requests, site) == []
