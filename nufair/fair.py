"""Wiring of the FAIR layer: settings → FairConfig, the DOI minting step of every flow, and
registration with the configured PID provider."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

import catalog.fair
from catalog.fair.config import DEFAULT_ADMIN_EMAIL, FairConfig
from catalog.fair.pids import DataCiteProvider, LocalProvider, PidProvider, SyncSummary, sync_dois
from catalog.fair.records import RecordService
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage, PidMinting
from nufair.settings import Settings

logger = logging.getLogger(__name__)


def observatory_list(value: str) -> tuple[str, ...]:
    """The observatories named in a comma-separated setting (``NUFAIR_TEST_OBSERVATORIES``).

    >>> observatory_list(" nufair-sim, toy-mc ,")
    ('nufair-sim', 'toy-mc')
    """
    return tuple(name for name in (part.strip() for part in value.split(",")) if name)


def fair_config(settings: Settings) -> FairConfig:
    """The FAIR layer's configuration, from the settings."""
    return FairConfig(base_url=settings.public_base_url, doi_prefix=settings.doi_prefix,
                      doi_resolver=settings.doi_resolver, provider=settings.pid_provider,
                      oai_page_size=settings.oai_page_size,
                      simulated_observatories=observatory_list(settings.test_observatories),
                      admin_email=settings.contact_email or DEFAULT_ADMIN_EMAIL,
                      sky_survey=settings.sky_hips_url,
                      **_symbol(settings))


def _symbol(settings: Settings) -> dict[str, str]:
    """The DataCite repository symbol: the repository account (``PROVIDER.REPO``) DOIs are
    registered with; the configuration's default when there is none (local DOIs)."""
    user = settings.datacite_user.strip().upper()
    return {"datacentre_symbol": user} if "." in user else {}


def make_provider(settings: Settings) -> PidProvider:
    """The PID provider named by ``settings.pid_provider``."""
    if settings.pid_provider == "local":
        return LocalProvider()
    from datacite import DataCiteRESTClient

    client = DataCiteRESTClient(settings.datacite_user,
                                settings.datacite_password.get_secret_value(),
                                settings.doi_prefix, url=settings.datacite_url)
    return DataCiteProvider(client)


def sync_pids(storage: CatalogStorage, settings: Settings) -> SyncSummary:
    """One registration pass: send every DOI whose metadata changed to the provider."""
    fair = FairStorage(storage.engine)
    cfg = fair_config(settings)
    fair.mint_missing(cfg.doi_prefix, cfg.provider)
    return sync_dois(RecordService(storage, fair), fair, make_provider(settings), cfg)


class PidSyncLoop:
    """Background registration passes every ``interval`` seconds, stopped cleanly."""

    def __init__(self, storage: CatalogStorage, settings: Settings, interval: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(storage, settings, interval),
                                        name="pid-sync", daemon=True)

    def start(self) -> None:
        """Start the loop's thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for its current pass."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self, storage: CatalogStorage, settings: Settings, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                summary = sync_pids(storage, settings)
                if summary.sent or summary.failed:
                    logger.info("PID sync: %d sent, %d failed", summary.sent, summary.failed)
            except Exception:  # the loop must survive a database or provider outage
                logger.warning("PID sync pass failed", exc_info=True)


def pid_minting(settings: Settings) -> PidMinting:
    """The DOIs every flow mints with the revisions it stores."""
    cfg = fair_config(settings)
    return PidMinting(prefix=cfg.doi_prefix, provider=cfg.provider)


#: Where the vendored Swagger UI's files are served, and where they lie.
DOCS_ASSETS = "/docs/assets"
SWAGGER_UI_DIR = Path(catalog.fair.__file__).parent / "static" / "swagger-ui"


def install_local_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI served from its vendored files (``catalog/fair/static``, see the
    SOURCES there), so that the page works with no network (FastAPI's default loads it from
    a CDN)."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """The interactive API documentation, every file local."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png")
