"""The outbox dispatcher: delivers queued notices to their sinks, at least once.

It polls the outbox (``SELECT ... FOR UPDATE SKIP LOCKED``, so several dispatchers can
share it), sends each claimed notice to its sink outside any transaction, and records the
attempt. A failed notice is due again after an exponential backoff
(``base * 2**(attempts-1)``, capped); a dispatcher that dies mid-send leaves its claim to
expire (the lease), after which the notice is sent again. Nothing is lost across a crash
between the commit of a revision and the send of its notices: the notices are rows.

Each sink gets the revisions of an alert in order: the claim takes no notice while a notice
of an earlier revision of the same alert to the same sink is pending
(:meth:`~catalog.storage.outbox.OutboxStorage.claim_due`). A notice that waits its turn is
not tried, so it gathers no attempts and no backoff, and goes right after the one before it.

A notice is given up (state ``failed``, with the reason) after ``max_attempts`` attempts,
or at once when the receiver refuses it for good (a 4xx other than 408 and 429: retrying
the same bytes cannot help). A failed notice no longer holds back the later revisions; an
operator retries or replays it (``/api/v1/notices``, ``nufair notices``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from catalog.schema.outbox import NoticeRead
from catalog.storage.outbox import OutboxStorage
from catalog.storage.steering import SteeringStorage
from ingest.sinks import DeliveryError, Receipt, Sink

log = logging.getLogger(__name__)


def _fields(notice: NoticeRead) -> dict[str, object]:
    """The ids a log line of ``notice`` carries as fields (``nufair.logs``)."""
    return {"notice_id": notice.id, "revision_pk": notice.revision_pk, "sink": notice.sink,
            "format": notice.format}


class SinkResolver(Protocol):
    """Sinks that are not configured by name but built for each name with a prefix (the
    sinks of region subscriptions, ``sub:<id>``: :mod:`ingest.sinks.subscription`)."""

    prefix: str

    def sink(self, name: str) -> Sink:
        """The sink of ``name``; :class:`DeliveryError` when there is none now."""

    def close(self) -> None:
        """Release what the built sinks hold."""


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    """Timing of the dispatcher (seconds).

    Attributes
    ----------
    poll_s
        Longest wait between two looks at the outbox (a :meth:`Dispatcher.wake` cuts it).
    batch
        Notices claimed per look.
    lease_s
        How long a claim holds before another dispatcher may take the notice.
    backoff_base_s, backoff_max_s
        Retry delay after the n-th failure: ``min(max, base * 2**(n-1))``.
    max_attempts
        Failed attempts after which a notice is given up (None: never).
    """

    poll_s: float = 0.5
    batch: int = 20
    lease_s: float = 60.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    max_attempts: int | None = None

    def backoff(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failed attempts (exponential, capped)."""
        return min(self.backoff_max_s, self.backoff_base_s * 2.0 ** max(0, failures - 1))


#: HTTP statuses of the 4xx class that are worth another try (timeout, rate limit).
TRANSIENT_4XX = frozenset({408, 429})


def permanent_refusal(status: int | None) -> bool:
    """Whether a receiver's answer ``status`` refuses the notice for good.

    >>> [permanent_refusal(s) for s in (None, 400, 401, 408, 429, 500, 503)]
    [False, True, True, False, False, False, False]
    """
    return status is not None and 400 <= status < 500 and status not in TRANSIENT_4XX


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed notice (``gave_up``: it is now ``failed``)."""

    notice_pk: int
    sink: str
    ok: bool
    attempt: int
    detail: str
    gave_up: bool = False


class Dispatcher:
    """Deliver outbox notices to ``sinks`` (matched on the notice's ``sink`` name)."""

    def __init__(self, outbox: OutboxStorage, sinks: Sequence[Sink],
                 config: DispatcherConfig | None = None,
                 resolver: SinkResolver | None = None) -> None:
        self.outbox = outbox
        self.sinks = {s.name: s for s in sinks}
        #: Sinks built per notice for names with its prefix (``sub:<id>``, issue 19).
        self.resolver = resolver
        self.config = config or DispatcherConfig()
        self.steering = SteeringStorage(outbox.engine)
        #: Monotonic time of the loop's last pass (None: never ran); read by ``/readyz``.
        self.last_pass_at: float | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ one pass

    def run_once(self) -> list[Outcome]:
        """Claim one batch of due notices and try each once."""
        prefixes = (self.resolver.prefix,) if self.resolver is not None else ()
        claimed = self.outbox.claim_due(list(self.sinks), self.config.batch,
                                        self.config.lease_s, prefixes)
        return [self._deliver(n) for n in claimed]

    def drain(self, timeout_s: float) -> list[Outcome]:
        """Run passes until nothing is due or ``timeout_s`` has passed (tests, CLI)."""
        deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
        out: list[Outcome] = []
        while datetime.now(UTC) < deadline:
            batch = self.run_once()
            if not batch:
                break
            out.extend(batch)
        return out

    def _deliver(self, notice: NoticeRead) -> Outcome:
        started = datetime.now(UTC)
        status: int | None = None
        try:
            sink = self.sinks.get(notice.sink) or self._resolved(notice.sink)
            receipt: Receipt = sink.deliver(notice)
            ok, detail, status = True, receipt.detail, receipt.status_code
        except DeliveryError as exc:
            ok, detail, status = False, str(exc), exc.status_code
        except Exception as exc:  # a sink bug must not kill the loop; it is recorded
            log.exception("sink %s failed on notice %s", notice.sink, notice.id,
                          extra=_fields(notice))
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        finished = datetime.now(UTC)
        reason = None if ok else self._give_up_reason(notice.attempt_count + 1, status, detail)
        retry_at = None
        if not ok and reason is None:
            retry_at = finished + timedelta(
                seconds=self.config.backoff(notice.attempt_count + 1))
        number = self.outbox.record_attempt(
            notice.id, started_at=started, finished_at=finished, ok=ok, status_code=status,
            detail=detail, retry_at=retry_at)
        gave_up = reason is not None and self.steering.give_up(notice.id, reason)
        fields = {**_fields(notice), "attempt": number, "status_code": status}
        if ok:
            log.info("notice %s delivered to %s (attempt %d)", notice.id, notice.sink, number,
                     extra=fields)
        elif gave_up:
            log.error("notice %s to %s given up (attempt %d): %s", notice.id, notice.sink,
                      number, reason, extra=fields)
        else:
            log.warning("notice %s to %s failed (attempt %d): %s", notice.id, notice.sink,
                        number, detail, extra=fields)
        return Outcome(notice.id, notice.sink, ok, number, detail, gave_up)

    def _give_up_reason(self, attempt: int, status: int | None, detail: str) -> str | None:
        """Why a failed attempt ends the notice's tries (None: it is tried again)."""
        if permanent_refusal(status):
            return f"refused for good (HTTP {status}): {detail}"
        limit = self.config.max_attempts
        if limit is not None and attempt >= limit:
            return f"gave up after {attempt} attempts: {detail}"
        return None

    def _resolved(self, name: str) -> Sink:
        if self.resolver is None:
            raise DeliveryError(f"no sink {name!r} is configured")
        return self.resolver.sink(name)  # DeliveryError when it cannot be built

    # ------------------------------------------------------------ background

    def wake(self) -> None:
        """Look at the outbox now (called after a commit that queued notices)."""
        self._wake.set()

    def alive(self) -> bool:
        """Whether the background thread runs (False when it was never started)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Dispatch in a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="nufair-dispatcher",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the loop (a send in progress finishes first) and close the sinks."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        for sink in self.sinks.values():
            sink.close()
        if self.resolver is not None:
            self.resolver.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.last_pass_at = time.monotonic()
            try:
                busy = bool(self.run_once())
            except Exception:  # database away: log, wait, try again
                log.exception("dispatcher pass failed")
                busy = False
            if busy:
                continue
            self._wake.wait(self.config.poll_s)
            self._wake.clear()
