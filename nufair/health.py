"""Liveness of the database for ``/healthz`` (a flag kept by a background thread), and the
checks of ``/readyz`` (:func:`readiness`).

``/healthz`` runs on the event loop and only reads the flag, so it answers at once even when
every worker thread is busy. The flag comes from a *probe*, a callable returning whether the
database is up; the default runs ``SELECT 1`` (1 s timeouts) on a dedicated one-connection
engine. To use the embedded-server supervisor instead, pass its ``is_up`` as the probe.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from starlette.types import Scope, Send

from catalog.storage.steering import SteeringStorage
from ingest.handlers.context import IngestContext
from nufair.settings import Settings

logger = logging.getLogger(__name__)

Probe = Callable[[], bool]


def select_one_probe(url: str, timeout_s: float = 1.0) -> tuple[Probe, Engine]:
    """A probe running ``SELECT 1`` with connect and statement timeouts; and its engine
    (one pooled connection of its own, so a saturated main pool cannot stall it)."""
    ms = int(timeout_s * 1000)
    engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=timeout_s,
                           pool_pre_ping=False,
                           connect_args={"connect_timeout": max(1, int(timeout_s)),
                                         "options": f"-c statement_timeout={ms}"})

    def probe() -> bool:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    return probe, engine


class DatabaseHealth:
    """Runs ``probe`` every ``interval_s`` seconds in a daemon thread and keeps the answer.

    :meth:`is_up` is true when a probe succeeded recently (at most three intervals ago:
    a stuck probe counts as a failure) and at most one has failed since.
    """

    def __init__(self, probe: Probe, interval_s: float = 2.0) -> None:
        self._probe = probe
        self._interval = interval_s
        self._ok_at: float | None = None
        self._failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def check(self) -> bool:
        """Run the probe once now; record and return its answer."""
        try:
            ok = bool(self._probe())
            self.last_error = None if ok else "the database probe answered no"
        except Exception as exc:  # any failure of the probe means "down"; the reason is kept
            ok = False
            self.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if ok:
            self._ok_at, self._failures = time.monotonic(), 0
        else:
            self._failures += 1
        return ok

    def is_up(self) -> bool:
        """A probe succeeded no longer than three intervals ago, and fewer than two failed
        since (one slow probe on a busy server is not an outage)."""
        ok_at = self._ok_at
        return (ok_at is not None and time.monotonic() - ok_at <= 3 * self._interval
                and self._failures < 2)

    def start(self) -> None:
        """Probe once (so the flag is right from the first request), then in the background."""
        self.check()
        self._thread = threading.Thread(target=self._run, name="db-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background probes (waits up to 5 s for the one running)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if not self.check():
                logger.warning("database health check failed: %s", self.last_error)


#: The liveness path, answered before any middleware (:class:`nufair.context.NufairApp`).
HEALTHZ_PATH = "/healthz"

_UP = b'{"status":"ok"}'
# The reason of a failure (which may name a socket path) is logged, not served.
_DOWN = (b'{"error":{"code":"database_unavailable",'
         b'"message":"the database does not answer","details":{}}}')


def is_healthz(scope: Scope) -> bool:
    """Whether the request ``scope`` is a ``GET`` or ``HEAD`` of ``/healthz``."""
    return scope["path"] == HEALTHZ_PATH and scope["method"] in ("GET", "HEAD")


async def answer_healthz(up: bool, scope: Scope, send: Send) -> None:
    """Answer ``/healthz`` from the flag ``up``: no routing, no worker thread, no I/O.

    Under floods the event loop is shared with every other request; the full middleware
    stack cost a few milliseconds of loop time per probe, this answer a few microseconds.
    """
    status, body = (200, _UP) if up else (503, _DOWN)
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"),
               (b"x-content-type-options", b"nosniff")]
    if status == 503:
        headers.append((b"retry-after", b"5"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body",
                "body": b"" if scope["method"] == "HEAD" else body})


# ---------------------------------------------------------------- readiness (/readyz)

@dataclass(frozen=True, slots=True)
class Readiness:
    """The answer of ``/readyz``: every check by name (``ok``, ``local``, ``off`` or what is
    wrong), and the first problem (None: ready)."""

    checks: dict[str, Any]
    problem: str | None

    @property
    def ready(self) -> bool:
        """No check found a problem."""
        return self.problem is None


def dask_reachable(address: str | None, timeout_s: float = 1.0) -> str | None:
    """None when the Dask scheduler at ``address`` accepts a TCP connection (or there is
    none to reach: the local cluster); else what went wrong."""
    if not address:
        return None
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 8786), timeout_s):
            return None
    except OSError as exc:
        return f"the Dask scheduler {address} does not answer: {type(exc).__name__}"


def readiness(db_problem: Callable[[], str | None], ingest: IngestContext | None,
              settings: Settings) -> Readiness:
    """Run the checks of ``/readyz``: the database (``db_problem``: None when it answers at
    the Alembic head, else what is wrong), the Dask scheduler of the scan runner, and the
    dispatcher (its thread alive, no notice due for over ``NUFAIR_READY_NOTICE_AGE_S``)."""
    db = db_problem()
    checks: dict[str, Any] = {"database": db or "ok"}
    if db is not None:
        return Readiness(checks, db)
    problems: list[str] = []
    if ingest is not None and settings.scan_runner_enabled:
        dask = dask_reachable(settings.dask_scheduler)
        checks["dask"] = dask or ("ok" if settings.dask_scheduler else "local")
        problems += [dask] if dask else []
    if ingest is not None and settings.dispatcher_enabled:
        d = ingest.dispatcher
        age = SteeringStorage(ingest.outbox.engine).oldest_due_age_s(list(d.sinks))
        checks["dispatcher"] = {"alive": d.alive(), "oldest_due_s": age}
        if not d.alive():
            problems.append("the notice dispatcher is not running")
        elif age is not None and age > settings.ready_notice_age_s:
            problems.append(f"a notice has been due for {age:.0f} s "
                            f"(over {settings.ready_notice_age_s:g} s)")
    return Readiness(checks, problems[0] if problems else None)
