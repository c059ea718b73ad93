"""Configuration of the VO services (built by the app factory from the settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vo.curation import Curation


@dataclass(frozen=True, slots=True)
class VoConfig:
    """Limits and addresses of the VO services.

    ``base_url`` is the public address of the app (service URLs in capabilities and
    DataLink rows are built from it). A synchronous TAP query (and a cone search, a
    DataLink read) may take ``timeout_s`` seconds; a TAP async job ``async_timeout_s`` (its
    EXECUTIONDURATION by default and at most: the executionDuration of the capabilities),
    so that what cannot run synchronously can run as a job. Each limit covers the query,
    its fetches and the writing of its answer, and a query past it is told the limit.
    TAP async jobs are kept ``retention_s`` after their
    creation; ``async_workers`` threads per process run them; ``uws_poll_s`` is how often
    an idle runner looks for queued jobs when no notification woke it, ``uws_sweep_s`` how
    often jobs past their destruction time and jobs of dead processes are dealt with.
    ``upload_url_hosts`` are the hosts UPLOAD may fetch a table from by http(s) URL (lower
    case); none by default: fetching whatever URL a client names is server-side request
    forgery. ``curation`` is who publishes the services, as their registry records say.

    ``default_maxrec`` and ``max_rows`` are the row limits a TAP answer has when MAXREC is
    not given, and at most (reported in the capabilities as outputLimit). ``sync_slots``
    synchronous TAP queries run at once (below the VO engine's pool of 20 connections, so
    that cone searches and DataLink still get one), and of them only ``heavy_slots`` that
    PostgreSQL's planner expects to cost over ``heavy_cost`` or to return over
    ``heavy_bytes``, so that heavy queries cannot starve small ones. A query waits up to
    ``sync_queue_s`` for a slot, a heavy one up to ``heavy_queue_s`` more for a heavy slot
    (none by default: it would hold a slot meanwhile, and small queries queue behind it),
    then is answered 503.
    """

    base_url: str = "http://127.0.0.1:8000"
    timeout_s: float = 30.0
    async_timeout_s: float = 600.0
    default_maxrec: int = 10_000
    max_rows: int = 1_000_000
    sync_slots: int = 12
    heavy_slots: int = 4
    heavy_cost: float = 100_000.0
    heavy_bytes: float = 16 * 1024 * 1024
    heavy_queue_s: float = 0.0
    sync_queue_s: float = 15.0
    max_upload_bytes: int = 50 * 1024 * 1024
    retention_s: int = 86_400
    async_workers: int = 2
    uws_poll_s: float = 5.0
    uws_sweep_s: float = 60.0
    upload_url_hosts: tuple[str, ...] = ()
    curation: Curation = field(default_factory=Curation)
