"""The app factory: engine and storage in the lifespan, routers, error handlers, limits."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from catalog.fair import skyview
from catalog.fair.router import router as fair_router
from catalog.handlers.counterparts import router as counterparts_router
from catalog.handlers.events import router as catalog_router
from catalog.handlers.subscriptions import router as subscriptions_router
from catalog.storage.events import CatalogStorage
from ingest.handlers.notices import router as notices_router
from ingest.handlers.raw_events import router as ingest_router
from ingest.handlers.scan_import import router as scan_import_router
from ingest.handlers.scans import router as scan_router
from nufair import __version__, logs, pgsupervisor
from nufair.context import NufairApp, build_catalog_context
from nufair.database import start_embedded, to_sqlalchemy_url
from nufair.edge import error_json, install_edge
from nufair.edge.inputs import known_query_only
from nufair.fair import PidSyncLoop, install_local_docs, pid_minting
from nufair.health import DatabaseHealth, readiness, select_one_probe
from nufair.ingest import ingest_running
from nufair.migrate import current_revision, head_revision
from nufair.priority import backend_lowering, bulk_priority
from nufair.settings import Settings, load_settings
from vo import registry
from vo.adql.parsepool import parsing_in_processes
from vo.adql.parser import syntax_check
from vo.api import ConeSearchFastPath
from vo.api import router as vo_router
from vo.conepool import ConePool
from vo.config import VoConfig
from vo.context import VoSetup, install_vo, setup_of, vo_running
from vo.curation import Curation
from vo.uws.api import router as vo_async_router
from vo.uws.policy import JobPolicy

logger = logging.getLogger(__name__)


class DatabaseNotAtHead(RuntimeError):
    """The database schema is not at the Alembic head: run ``nufair migrate`` first."""


def make_engine(url: str, pre_ping: bool = True) -> Engine:
    """A pooled engine on ``url`` (JIT off; ``pre_ping``: test connections on checkout)."""
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


def vo_config(settings: Settings) -> VoConfig:
    """The limits and addresses of the VO services from the settings."""
    return VoConfig(base_url=settings.public_base_url,
                    upload_url_hosts=tuple(h.lower() for h in settings.tap_upload_url_hosts),
                    sync_slots=settings.tap_sync_slots,
                    timeout_s=settings.tap_timeout_s,
                    async_timeout_s=settings.tap_async_timeout_s,
                    heavy_slots=min(settings.tap_heavy_slots, settings.tap_sync_slots),
                    curation=Curation(authority=settings.vo_authority, title=settings.vo_title,
                                      publisher=settings.vo_publisher,
                                      creator=settings.vo_creator,
                                      contact_name=settings.vo_contact_name,
                                      contact_email=settings.contact_email))


def check_at_head(engine: Engine) -> None:
    """Raise :class:`DatabaseNotAtHead` unless the schema is at the Alembic head."""
    url = engine.url.render_as_string(hide_password=False)
    have, want = current_revision(engine), head_revision(url)
    if have != want:
        raise DatabaseNotAtHead(
            f"database schema is at {have!r}, this code needs {want!r}: run `nufair migrate`")


def _freeze_startup_objects() -> None:
    # Start-up leaves ~10^6 long-lived objects (astropy, numba, the grammar); every full
    # collection traversed them all, 0.1-0.25 s with the GIL held (measured: /healthz p99
    # 211 -> 26 ms beside a stream of refused ADQL once frozen). Frozen, they are never
    # traversed again; with the default thresholds full collections of the rest still came
    # every ~70 k allocations (50-107 ms each under the floods), so young collections are
    # batched and full ones rare.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@asynccontextmanager
async def _running(app: NufairApp) -> AsyncIterator[None]:
    """The app's lifetime: engines, health probe, storages and contexts, background work."""
    settings = app.settings
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
        storage = CatalogStorage(engine, pids=pid_minting(settings))
        app.engine = engine
        health.start()
        app.db_health = health
        # The VO resource records, harvested through the catalog's OAI-PMH as ivo_vor.
        services = registry.oai_records(setup_of(app).config)
        catalog = build_catalog_context(storage, settings, app.tokens, services)
        app.start_catalog(catalog)
        app.embedded_server = server
        cones = ConePool(vo_engine, int(setup_of(app).config.timeout_s * 1000),
                         on_connect=backend_lowering(vo_engine, settings.bulk_niceness))
        try:
            await cones.open()
            with bulk_priority(settings.bulk_niceness, (vo_engine,),
                               settings.bulk_thread_niceness), \
                    _pid_sync(storage, settings), ingest_running(app, storage, settings), \
                    vo_running(app, engine, vo_engine, cones), \
                    parsing_in_processes(settings.adql_parse_processes,
                                         settings.bulk_niceness):
                # The ADQL grammar's LALR tables are built on first use: ~1 s of pure
                # Python, which the first TAP query under the floods spent beside the loop
                # (py-spy, issue 12). Built now, they are also frozen with the rest.
                syntax_check("SELECT x FROM t")
                _freeze_startup_objects()
                lag = asyncio.create_task(app.loop_lag.run(), name="loop-lag")
                try:
                    yield
                finally:
                    lag.cancel()
        finally:
            catalog.gate.close()  # the DCAT page builders
            await cones.close()
    finally:
        if supervisor is not None:
            for dispose in disposers:
                supervisor.on_restart.remove(dispose)
        health.stop()
        probe_engine.dispose()
        vo_engine.dispose()
        engine.dispose()


@contextmanager
def _pid_sync(storage: CatalogStorage, settings: Settings) -> Iterator[None]:
    """Background DOI registration passes, when configured, for the app's lifetime."""
    if settings.pid_sync_interval_s <= 0:
        yield
        return
    loop = PidSyncLoop(storage, settings, settings.pid_sync_interval_s)
    loop.start()
    try:
        yield
    finally:
        loop.stop()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    if not isinstance(app, NufairApp):
        raise TypeError("the nufair lifespan runs a NufairApp")
    async with _running(app):
        yield


def _include_routers(app: NufairApp, settings: Settings) -> None:
    rest = [Depends(known_query_only)]  # the REST API refuses unknown query parameters
    app.include_router(catalog_router, dependencies=rest)
    app.include_router(counterparts_router, dependencies=rest)
    app.include_router(subscriptions_router, dependencies=rest)
    app.include_router(fair_router)
    app.include_router(vo_router)
    app.include_router(vo_async_router)
    install_vo(app, VoSetup(vo_config(settings), job_policy(settings), app.tokens))
    app.include_router(ingest_router, dependencies=rest)
    app.include_router(scan_import_router, dependencies=rest)
    app.include_router(scan_router, dependencies=rest)
    app.include_router(notices_router, dependencies=rest)


def _add_probes(app: NufairApp) -> None:
    @app.get("/readyz", include_in_schema=False, response_model=None)
    def readyz() -> Response | dict[str, Any]:
        """Readiness: the database answers at the Alembic head, the Dask scheduler answers,
        the dispatcher runs and keeps up (:func:`nufair.health.readiness`)."""
        def database() -> str | None:
            try:
                if app.engine is None:  # not started: no database yet
                    raise RuntimeError("the app has not started")
                check_at_head(app.engine)
            except DatabaseNotAtHead as exc:
                return str(exc).splitlines()[0]
            except Exception as exc:  # any failure means "not ready"; the reason is logged
                logger.warning("not ready: %s", exc)
                return "the database does not answer"
            return None

        r = readiness(database, app.ingest_started, app.settings)
        if not r.ready:
            return error_json("not_ready", r.problem or "not ready", 503, details=r.checks)
        return {"status": "ready", "checks": r.checks}

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        """Prometheus exposition of the app's registry."""
        return Response(generate_latest(app.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_app(settings: Settings | None = None) -> NufairApp:
    """Build the nufair ASGI app. The database must already be at the Alembic head."""
    settings = settings or load_settings()
    logs.configure(settings.log_format, settings.log_level)
    # The event loop (health checks, async WAITs, every middleware) competes for the GIL
    # with the worker threads that parse ADQL and write answers; with the default 5 ms
    # switch interval it waited several intervals per request under load (issue #12).
    sys.setswitchinterval(settings.gil_switch_interval_s)
    app = NufairApp(
        settings,
        title="nufair",
        version=__version__,
        summary="Archive and realtime pipeline for high-energy neutrino alerts",
        lifespan=_lifespan,
        docs_url=None,  # served locally: install_local_docs
        redoc_url=None,  # ReDoc would load from a CDN
    )
    install_local_docs(app)
    _include_routers(app, settings)
    app.mount(skyview.STATIC_URL, StaticFiles(directory=skyview.STATIC_DIR), name="static")
    app.add_middleware(ConeSearchFastPath)  # innermost: below the edge
    install_edge(app, public_base_url=settings.public_base_url,
                 cors_origins=settings.cors_origins, max_body_bytes=settings.max_body_bytes,
                 tokens=app.tokens, metrics=app.metrics, sky_survey=settings.sky_hips_url)
    _add_probes(app)
    return app
