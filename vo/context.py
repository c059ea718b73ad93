"""The typed context of the VO layer: what its handlers use, built once per app.

The app factory (``nufair/app.py``) decides the VO configuration, the caps of TAP jobs and
where bearer tokens come from (:class:`VoSetup`, given to :func:`install_vo`); its lifespan
then runs :func:`vo_running` with the two engines, which builds the :class:`VoContext` (the
read-only storage, the synchronous query slots, the job service and its threads) and stops
the jobs at the end. Handlers read the context through the typed dependency
:data:`VoCtx`; nothing falls back to defaults: a route called outside a running app is a
bug, and says so. The app is a :class:`VoHost`: its typed ``vo_setup`` and ``vo_context``
are the only attributes of the app the VO layer uses, each written and read here only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from vo.conepool import ConePool
from vo.config import VoConfig
from vo.service import TapResult, TapService
from vo.slots import SyncSlots
from vo.storage import VoStorage
from vo.uws.policy import JobLimits, JobPolicy
from vo.uws.service import JobService
from vo.uws.storage import Job, UwsStorage

#: The bearer tokens the service knows: a callable (tokens rotate without a restart)
#: returning {SHA-256 hex of a token: its scopes}.
TokenDigests = Callable[[], Mapping[str, frozenset[str]]]


def _no_tokens() -> Mapping[str, frozenset[str]]:
    return {}


@dataclass(frozen=True, slots=True)
class VoSetup:
    """What the app factory decides for the VO layer, before any database is known: the
    limits and addresses (``config``), the caps of TAP jobs (``policy``) and the bearer
    tokens callers may send (``tokens``; none by default: every caller is anonymous)."""

    config: VoConfig
    policy: JobPolicy = field(default_factory=JobPolicy)
    tokens: TokenDigests = _no_tokens


@dataclass(frozen=True, slots=True)
class VoContext:
    """Everything the VO handlers use: the configuration, the read-only storage (on the VO
    engine), the slots of synchronous queries, the TAP job service, the known tokens, and
    the cone search's connections on the event loop (None: every cone search is answered
    in a worker thread)."""

    config: VoConfig
    storage: VoStorage
    slots: SyncSlots
    jobs: JobService
    tokens: TokenDigests
    cones: ConePool | None = None


class VoHost(Protocol):
    """An app serving the VO routes (:class:`nufair.context.NufairApp`): the setup the
    factory decided and the context built when the app started (None until then)."""

    vo_setup: VoSetup | None
    vo_context: VoContext | None


def install_vo(app: VoHost, setup: VoSetup) -> None:
    """Give ``app`` the VO setup its lifespan builds the context from (:func:`vo_running`).

    Called by the app factory; a test may call it again, before the app starts, to change
    the configuration or the job caps.
    """
    app.vo_setup = setup


def setup_of(app: VoHost) -> VoSetup:
    """The setup :func:`install_vo` gave ``app``."""
    setup = app.vo_setup
    if setup is None:
        raise RuntimeError("the VO layer is not installed: call vo.context.install_vo(app, ...)")
    return setup


@contextmanager
def vo_running(app: VoHost, engine: Engine, vo_engine: Engine,
               cones: ConePool | None = None) -> Iterator[VoContext]:
    """Build ``app``'s VO context and run its job threads for the app's lifetime.

    ``vo_engine`` (a pool of its own, no pre-ping) serves the synchronous reads: TAP sync,
    cone search, DataLink, VOSI; ``engine`` (the catalog's) the job tables and the jobs'
    queries; ``cones`` (opened and closed by the caller, on the loop) the small cone
    searches. Run inside the app's event loop (the slots are asyncio semaphores).
    """
    setup = setup_of(app)
    jobs = job_service(engine, setup.config, setup.policy)
    jobs.start()
    try:
        context = VoContext(setup.config, VoStorage(vo_engine, setup.config.timeout_s,
                                              setup.config.base_url),
                           SyncSlots.of(setup.config), jobs, setup.tokens, cones)
        app.vo_context = context
        yield context
    finally:
        app.vo_context = None
        jobs.stop()


def job_service(engine: Engine, cfg: VoConfig, policy: JobPolicy) -> JobService:
    """The TAP job service on ``engine`` (not started): jobs run as TAP queries whose
    statement timeout is each job's execution duration."""

    @functools.lru_cache(maxsize=32)
    def storage_for(duration: int) -> VoStorage:
        # One storage per duration, so its caches (role check, tile statistics) outlive a job.
        return VoStorage(engine, duration, cfg.base_url)

    def execute(job: Job, uploads: Mapping[str, bytes]) -> TapResult:
        return TapService(storage_for(job.duration), cfg).execute(job.params, uploads)

    limits = JobLimits(retention_s=cfg.retention_s, duration_s=int(cfg.async_timeout_s),
                       workers=cfg.async_workers, poll_s=cfg.uws_poll_s, sweep_s=cfg.uws_sweep_s)
    return JobService(UwsStorage(engine), execute, limits, policy)


def context_of(app: VoHost) -> VoContext:
    """``app``'s VO context (RuntimeError when :func:`vo_running` is not running for it)."""
    context = app.vo_context
    if context is None:
        raise RuntimeError("the VO layer is not running: the app's lifespan must enter "
                           "vo.context.vo_running")
    return context


async def vo_context(request: Request) -> VoContext:
    """FastAPI dependency: the VO context of the app serving ``request`` (a coroutine, so
    that reading it takes no worker thread)."""
    host: VoHost = request.app
    return context_of(host)


#: A handler parameter typed ``VoCtx`` receives the app's :class:`VoContext`.
VoCtx = Annotated[VoContext, Depends(vo_context)]
