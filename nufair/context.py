"""The nufair app and the typed contexts it holds for the packages' handlers.

The app is built by :func:`nufair.app.create_app`; what needs the database (the catalog's
storage and FAIR context) is built when it starts, by :func:`build_catalog_context`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from starlette.types import Receive, Scope, Send

from catalog.fair.browse import BuildGate
from catalog.fair.oai import ServiceRecord
from catalog.fair.router import make_context
from catalog.handlers.context import CatalogContext
from catalog.handlers.metrics import Metrics, make_metrics
from catalog.storage.events import CatalogStorage
from ingest.handlers.context import IngestContext
from nufair import pgsupervisor
from nufair.fair import fair_config
from nufair.health import DatabaseHealth, answer_healthz, is_healthz
from nufair.health_loop import LoopLag
from nufair.settings import Settings
from nufair.tokens import TokenTable
from vo.context import VoContext, VoSetup


class AppNotStarted(RuntimeError):
    """A context that is built when the app starts was asked for before it started."""


class NufairApp(FastAPI):
    """FastAPI, plus what the app factory builds for the handlers and the edge, typed.

    ``settings``, ``tokens``, ``metrics`` and the event-loop lag probe exist from
    construction; ``engine``, ``db_health`` and the catalog's and the ingest package's
    contexts once the app has started (its lifespan).

    ``GET /healthz`` is answered here, before any middleware (FastAPI's own included):
    under floods the event loop is shared with every other request, and the probe should
    cost it a few microseconds (issue #12).
    """

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.tokens = TokenTable(settings)
        self.engine: Engine | None = None
        self.db_health: DatabaseHealth | None = None
        self.embedded_server: Any = None
        self.metrics: Metrics = make_metrics(lambda: self.engine)
        self.loop_lag = LoopLag(self.metrics.registry)  # started with the app (its lifespan)
        self._catalog: CatalogContext | None = None
        self._ingest: IngestContext | None = None
        self.vo_setup: VoSetup | None = None  # vo.context.VoHost: set by the factory
        self.vo_context: VoContext | None = None  # and built when the app starts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``/healthz`` at once; pass every other request to FastAPI."""
        if scope["type"] == "http" and is_healthz(scope):
            await answer_healthz(self.database_up(), scope, send)
            return
        await super().__call__(scope, receive, send)

    def database_up(self) -> bool:
        """Whether the database is up, from two flags read without I/O: the background
        probe's, and (under ``nufair run``) the embedded server's supervisor's, which sees a
        dead postmaster at once."""
        health = self.db_health
        return pgsupervisor.database_is_up() and (health is None or health.is_up())

    @property
    def catalog_context(self) -> CatalogContext:
        """The catalog's context (:class:`~catalog.handlers.context.CatalogHost`)."""
        if self._catalog is None:
            raise AppNotStarted("the catalog's context is built when the app starts")
        return self._catalog

    def start_catalog(self, context: CatalogContext) -> None:
        """Hold the catalog's context built at start-up."""
        self._catalog = context

    @property
    def ingest_context(self) -> IngestContext:
        """The ingest package's context (:class:`~ingest.handlers.context.IngestHost`)."""
        if self._ingest is None:
            raise AppNotStarted("the ingest context is built when the app starts")
        return self._ingest

    @property
    def ingest_started(self) -> IngestContext | None:
        """The ingest context, or None before start-up (readiness reports it as not ready)."""
        return self._ingest

    def start_ingest(self, context: IngestContext | None) -> None:
        """Hold the ingest context built at start-up (None again when it stops)."""
        self._ingest = context


def build_catalog_context(storage: CatalogStorage, settings: Settings, tokens: TokenTable,
                          services: tuple[ServiceRecord, ...] = ()) -> CatalogContext:
    """The catalog's context: its storage, the FAIR context (minting every missing DOI, and
    hooking minting into imports), the gate of the DCAT catalog builds, the tokens, and the
    VO resource records its OAI-PMH serves as ``ivo_vor`` (``services``, handed over by the
    app factory: the catalog does not know the VO layer)."""
    file_root = settings.artifacts_file_root()
    fair, _ = make_context(storage, fair_config(settings), settings.data_dir / "artifacts",
                           () if file_root is None else (file_root,))
    gate = BuildGate(settings.catalog_max_builds, settings.catalog_page_size)
    return CatalogContext(storage=storage, fair=fair, gate=gate, tokens=tokens,
                          services=services)
