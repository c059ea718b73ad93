"""The app factory: engine and storage in the lifespan, routers, error handlers, limits."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from catalog.fair.browse import CATALOG_GATE_STATE, BuildGate
from catalog.fair.router import router as fair_router
from catalog.handlers.auth import TOKENS_STATE
from catalog.handlers.edge import (
    document_error_responses,
    error_json,
    install_edge,
    install_error_handlers,
)
from catalog.handlers.events import STORAGE_STATE
from catalog.handlers.events import router as catalog_router
from catalog.handlers.metrics import MetricsMiddleware, make_metrics
from catalog.storage.events import CatalogStorage
from ingest.handlers.raw_events import router as ingest_router
from ingest.handlers.scans import router as scan_router
from nufair import __version__, pgsupervisor
from nufair.database import start_embedded, to_sqlalchemy_url
from nufair.fair import PidSyncLoop, install_fair
from nufair.health import DatabaseHealth, HealthzFastPath, select_one_probe
from nufair.ingest import ingest_running
from nufair.migrate import current_revision, head_revision
from nufair.settings import Settings
from nufair.tokens import TokenTable
from vo.api import CONFIG_STATE as VO_CONFIG_STATE
from vo.api import STORAGE_STATE as VO_STORAGE_STATE
from vo.api import ConeSearchFastPath
from vo.api import router as vo_router
from vo.config import VoConfig
from vo.storage import VoStorage
from vo.uws.api import POLICY_STATE as VO_POLICY_STATE
from vo.uws.api import jobs_running
from vo.uws.api import router as vo_async_router
from vo.uws.service import JobPolicy

logger = logging.getLogger(__name__)


class DatabaseNotAtHead(RuntimeError):
    """The database schema is not at the Alembic head: run ``nufair migrate`` first."""


def make_engine(url: str, pre_ping: bool = True) -> Engine:
    # JIT off: it was measured to misplan the range joins of region queries (DESIGN.md).
    # ``pre_ping=False`` for the read-only VO engine: a ping is one more round trip per
    # request, and VoStorage replaces a connection that turns out dead on first use.
    return create_engine(url, pool_pre_ping=pre_ping, pool_size=10, max_overflow=10,
                         connect_args={"options": "-c jit=off"})


def resolve_database_url(settings: Settings) -> tuple[str, Any]:
    """The configured URL, or the embedded server's (and its handle, to keep it alive)."""
    if settings.database_url is not None:
        return to_sqlalchemy_url(settings.database_url.get_secret_value()), None
    return start_embedded(settings.data_dir)


def job_policy(settings: Settings) -> JobPolicy:
    """The caps and bounds of TAP async jobs from the settings."""
    return JobPolicy(owner_active=settings.tap_jobs_per_owner,
                     owner_jobs=settings.tap_jobs_kept_per_owner,
                     all_active=settings.tap_jobs_active_max,
                     owner_running=settings.tap_running_per_owner,
                     result_bytes=settings.tap_result_max_bytes,
                     max_destruction_s=settings.tap_destruction_max_s,
                     waits_per_client=settings.tap_waits_per_client)


def check_at_head(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    have, want = current_revision(engine), head_revision(url)
    if have != want:
        raise DatabaseNotAtHead(
            f"database schema is at {have!r}, this code needs {want!r}: run `nufair migrate`")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the nufair ASGI app. The database must already be at the Alembic head."""
    settings = settings or Settings()
    # The event loop (health checks, async WAITs, every middleware) competes for the GIL
    # with the worker threads that parse ADQL and write answers; with the default 5 ms
    # switch interval it waited several intervals per request under load (issue #12).
    sys.setswitchinterval(settings.gil_switch_interval_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        url, server = resolve_database_url(settings)
        engine = make_engine(url)
        vo_engine = make_engine(url, pre_ping=False)
        probe, probe_engine = select_one_probe(url)
        health = DatabaseHealth(probe, settings.health_interval_s)
        # After `nufair run` restarts the embedded server, the pools hold dead connections.
        supervisor = pgsupervisor.active()
        disposers = [engine.dispose, vo_engine.dispose, probe_engine.dispose]
        if supervisor is not None:
            supervisor.on_restart.extend(disposers)
        try:
            check_at_head(engine)
            setattr(app.state, STORAGE_STATE, CatalogStorage(engine))
            setattr(app.state, VO_STORAGE_STATE,
                    VoStorage(vo_engine, getattr(app.state, VO_CONFIG_STATE).timeout_s))
            app.state.engine = engine
            health.start()
            app.state.db_health = health
            install_fair(app, getattr(app.state, STORAGE_STATE), settings)
            pid_sync = None
            if settings.pid_sync_interval_s > 0:
                pid_sync = PidSyncLoop(getattr(app.state, STORAGE_STATE), settings,
                                       settings.pid_sync_interval_s)
                pid_sync.start()
            app.state.embedded_server = server
            try:
                with ingest_running(app, getattr(app.state, STORAGE_STATE), settings), \
                        jobs_running(app, engine):
                    # Start-up leaves ~10^6 long-lived objects (astropy, numba, the
                    # grammar); every full collection traversed them all, 0.1-0.25 s
                    # with the GIL held (measured: /healthz p99 211 -> 26 ms beside a
                    # stream of refused ADQL once frozen). Frozen, they are never
                    # traversed again; with the default thresholds full collections of
                    # the rest still came every ~70 k allocations (50-107 ms each under
                    # the floods), so young collections are batched and full ones rare.
                    gc.collect()
                    gc.freeze()
                    gc.set_threshold(50_000, 20, 100)
                    yield
            finally:
                if pid_sync is not None:
                    pid_sync.stop()
        finally:
            if supervisor is not None:
                for dispose in disposers:
                    supervisor.on_restart.remove(dispose)
            health.stop()
            probe_engine.dispose()
            vo_engine.dispose()
            engine.dispose()

    app = FastAPI(
        title="nufair",
        version=__version__,
        summary="Archive and realtime pipeline for high-energy neutrino alerts",
        lifespan=lifespan,
    )
    app.state.settings = settings
    setattr(app.state, TOKENS_STATE, TokenTable(settings))
    metrics = make_metrics(lambda: getattr(app.state, "engine", None))
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(catalog_router)
    app.include_router(fair_router)
    setattr(app.state, VO_CONFIG_STATE, VoConfig(
        base_url=settings.public_base_url,
        upload_url_hosts=tuple(h.lower() for h in settings.tap_upload_url_hosts),
        sync_slots=settings.tap_sync_slots,
        heavy_slots=min(settings.tap_heavy_slots, settings.tap_sync_slots)))
    app.include_router(vo_router)
    app.include_router(vo_async_router)
    setattr(app.state, VO_POLICY_STATE, job_policy(settings))
    app.include_router(ingest_router)
    app.include_router(scan_router)
    setattr(app.state, CATALOG_GATE_STATE,
            BuildGate(settings.catalog_max_builds, settings.catalog_page_size))
    app.add_middleware(ConeSearchFastPath)  # innermost: after the limits and metrics
    install_edge(app, public_base_url=settings.public_base_url,
                 cors_origins=settings.cors_origins, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    def database_up() -> bool:
        # Two flags, both read without I/O: the background probe's, and (under `nufair
        # run`) the embedded server's supervisor's, which sees a dead postmaster at once.
        health: DatabaseHealth | None = getattr(app.state, "db_health", None)
        return pgsupervisor.database_is_up() and (health is None or health.is_up())

    app.add_middleware(HealthzFastPath, is_up=database_up)  # outermost: /healthz only

    document_error_responses(app)

    @app.get("/readyz", include_in_schema=False, response_model=None)
    def readyz() -> Response | dict[str, str]:
        """Readiness: the database answers and its schema is at the Alembic head."""
        try:
            check_at_head(app.state.engine)
        except DatabaseNotAtHead as exc:
            return error_json("not_ready", str(exc).splitlines()[0], 503)
        except Exception as exc:  # any failure means "not ready"; the reason is logged
            logger.warning("not ready: %s", exc)
            return error_json("not_ready", "the database does not answer", 503)
        return {"status": "ready"}

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
