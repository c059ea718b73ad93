"""Configuration of the VO services (built by the app factory from the settings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VoConfig:
    """Limits and addresses of the VO services.

    ``base_url`` is the public address of the app (service URLs in capabilities and
    DataLink rows are built from it). TAP async jobs are kept ``retention_s`` after their
    creation; ``async_workers`` threads per process run them; ``uws_poll_s`` is how often
    an idle runner looks for queued jobs when no notification woke it, ``uws_sweep_s`` how
    often jobs past their destruction time and jobs of dead processes are dealt with.
    ``upload_url_hosts`` are the hosts UPLOAD may fetch a table from by http(s) URL (lower
    case); none by default: fetching whatever URL a client names is server-side request
    forgery.
    """

    base_url: str = "http://127.0.0.1:8000"
    timeout_s: float = 30.0
    default_maxrec: int = 100_000
    max_rows: int = 2_000_000
    max_upload_bytes: int = 50 * 1024 * 1024
    retention_s: int = 86_400
    async_workers: int = 2
    uws_poll_s: float = 5.0
    uws_sweep_s: float = 60.0
    upload_url_hosts: tuple[str, ...] = ()
