"""The scan runner: claims queued scans, runs them on Dask, reports, finishes them.

Lanes
-----
The runner has several *slots*, each a thread that runs one scan at a time. Slot 0 takes
only realtime scans; the others take realtime first, then reprocessing. A realtime scan
therefore never waits behind a reprocessing scan: if every general slot is busy with
reprocessing, the realtime slot is free (it can only be busy with an earlier realtime
scan). The scans share one Dask client; a realtime scan's tasks carry a higher Dask
priority (``dask.annotate``, merged into each task by ``Client.submit``), so the scheduler
hands them out before any queued reprocessing task (measured in the lane test: without
it, the slots alone did not help).

Life of a claim
---------------
A claimed scan gets a heartbeat every ``heartbeat_s`` (a thread of its own, so a long task
does not starve it) until its last write: through the update publication too (uploads of
the skymaps can take longer than ``stale_s``; without heartbeats then, the scan was
re-claimed while it was being published, again and again). The heartbeat reads
``abort_requested_at``: an abort sets the scan's cancel flag and reco stops after its
current task. Partial snapshots are written from reco's progress callback at most every
``snapshot_s``. On shutdown a running scan is cancelled and *released* (claim cleared), so
the next runner restarts it at once; if the process dies instead, its heartbeat goes stale
and after ``stale_s`` another runner re-claims it (``claims`` + 1).

Every claim carries a fencing token (:mod:`catalog.storage.scans`) that each write
presents: a runner that lost its claim can no longer write, and stops with a log line
saying so. A scan already claimed ``max_claims`` times is failed with the reason instead of
being claimed again.

Infrastructure failures
-----------------------
A realtime scan failing on the infrastructure (scheduler unreachable, connection closed,
timeout: :class:`OSError`) is tried again on the same claim, heartbeats going on, with a
capped exponential backoff, at most ``infra_retries`` times, on a new Dask client; then it
is ``failed``. A reprocessing scan fails at once. Each step is logged with the scan's id.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from dask.base import annotate

from catalog.schema.ingest import ScanRead
from catalog.storage.raw_events import IngestStorage
from catalog.storage.scans import LostClaim, Priority, ScanStorage, Snapshot
from ingest.scanning.progress import partial_snapshot
from ingest.scanning.service import config_to_reco
from ingest.scanning.update import UpdatePublisher
from reco.detector import Detector
from reco.event import Event
from reco.result import ScanResult
from reco.scan import ScanCancelled, ScanProgress, local_client, run_scan

log = logging.getLogger(__name__)

#: Dask task priority of each lane (higher runs first).
DASK_PRIORITY = {"realtime": 100, "reprocessing": 0}

REALTIME_ONLY: tuple[Priority, ...] = ("realtime",)
ANY_LANE: tuple[Priority, ...] = ("realtime", "reprocessing")


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """Timing and slots of the runner (seconds).

    Attributes
    ----------
    general_slots
        Slots that take any scan (realtime first); one more slot takes realtime only.
    poll_s
        Longest wait between looks at the queue (:meth:`ScanRunner.wake` cuts it).
    heartbeat_s
        Interval of heartbeats of a running scan.
    stale_s
        Age of a heartbeat after which its scan is re-claimed.
    snapshot_s
        Shortest interval between two partial snapshots of a scan.
    max_claims
        Claims a scan may have; one that would need another is failed with the reason.
    infra_retries, infra_backoff_s, infra_backoff_max_s
        New tries of a realtime scan after infrastructure failures; the n-th after
        ``min(max, base * 2**(n-1))``.
    """

    general_slots: int = 1
    poll_s: float = 0.5
    heartbeat_s: float = 2.0
    stale_s: float = 30.0
    snapshot_s: float = 1.0
    max_claims: int = 5
    infra_retries: int = 3
    infra_backoff_s: float = 5.0
    infra_backoff_max_s: float = 60.0

    def infra_delay(self, retry: int) -> float:
        """Seconds before the ``retry``-th new try after an infrastructure failure.
        >>> RunnerConfig(infra_backoff_s=5, infra_backoff_max_s=12).infra_delay(3)
        12.0
        """
        return float(min(self.infra_backoff_max_s,
                         self.infra_backoff_s * 2.0 ** max(0, retry - 1)))

    @property
    def stale_after(self) -> timedelta:
        """``stale_s`` as a timedelta."""
        return timedelta(seconds=self.stale_s)


class DaskClients:
    """One Dask client for the runner, made on first use: a scheduler address, or a
    ``LocalCluster`` of ``workers`` single-threaded workers (processes or threads)."""

    def __init__(self, address: str | None, workers: int, processes: bool) -> None:
        self.address = address
        self.workers = workers
        self.processes = processes
        self._lock = threading.Lock()
        self._client: Any = None

    def get(self) -> Any:
        """The runner's Dask client, made on first use."""
        from distributed import Client

        with self._lock:
            if self._client is None:
                if self.address:
                    # distributed's Client is untyped: called as Any (mypy --strict).
                    self._client = cast(Any, Client)(self.address)
                else:
                    self._client = local_client(self.workers, processes=self.processes)
            return self._client

    def reset(self) -> None:
        """Drop a scheduler's client after a failure (:meth:`get` connects anew)."""
        if not self.address:
            return
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # the scheduler may be gone: nothing to do
                client.close(timeout=2)

    def close(self) -> None:
        """Close the client (and its local cluster, if we made one)."""
        with self._lock:
            if self._client is not None:
                cluster = self._client.cluster  # None for a scheduler address
                self._client.close()
                if cluster is not None:
                    cluster.close()
            self._client = None


class _Claim:
    """A claimed scan's flags, shared by its slot, heartbeat and progress callback."""

    def __init__(self, row: ScanRead, worker: str) -> None:
        self.row = row
        self.worker = worker
        # claim_next always sets it; an empty token matches no row (every write refused).
        self.token = row.claim_token or ""
        self.cancel = threading.Event()
        self.aborted = False
        self.lost = False
        self.done = threading.Event()
        self.last_snapshot = 0.0
        self.fraction = 0.0  # the last fraction reported, this claim or an earlier one


class ScanRunner:
    """Run queued scans in background slots (see the module docstring)."""

    def __init__(self, scans: ScanStorage, raw: IngestStorage, detector: Callable[[], Detector],
                 publisher: UpdatePublisher, clients: DaskClients,
                 config: RunnerConfig | None = None, name: str | None = None) -> None:
        self.scans = scans
        self.raw = raw
        self.detector = detector
        self.publisher = publisher
        self.clients = clients
        self.config = config or RunnerConfig()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._active: dict[int, _Claim] = {}
        self._lock = threading.Lock()
        #: Called with the scan at each new try after an infrastructure failure (metrics).
        self.on_retry: Callable[[ScanRead], None] = lambda _row: None

    # ------------------------------------------------------------ one scan

    def lanes(self) -> list[tuple[Priority, ...]]:
        """The lanes of each slot: slot 0 realtime only, the others any."""
        return [REALTIME_ONLY] + [ANY_LANE] * self.config.general_slots

    def run_one(self, lanes: Sequence[Priority] = ANY_LANE, slot: int = 0) -> ScanRead | None:
        """Claim the next scan of ``lanes`` and run it to its end; None if none is due."""
        worker = f"{self.name}/{slot}"
        for pk in self.scans.fail_exhausted(lanes, self.config.stale_after,
                                            self.config.max_claims):
            log.error("scan %s failed: claimed %d times without finishing", pk,
                      self.config.max_claims, extra={"scan_id": pk, "outcome": "failed"})
        row = self.scans.claim_next(worker, lanes, self.config.stale_after,
                                    self.config.max_claims)
        if row is None:
            return None
        self._execute(_Claim(row, worker))
        return self.scans.get(row.id)

    def _execute(self, claim: _Claim) -> None:
        row = claim.row
        fields = _fields(claim)
        log.info("scan %s claimed by %s (claim %d)", row.id, claim.worker, row.claims,
                 extra=fields)
        with self._lock:
            self._active[row.id] = claim
        beat = threading.Thread(target=self._heartbeat, args=(claim,), daemon=True,
                                name=f"nufair-scan-{row.id}-heartbeat")
        beat.start()
        try:
            if row.abort_requested_at is not None:
                raise ScanCancelled("abort requested before the (re)start")
            # Validated once, when it was received (ingest.pipeline, or the scan service for
            # an inline event): the stored body is only rebuilt into reco's Event here.
            event = Event.from_json(self.raw.body(row.raw_event_pk))
            before = self.scans.latest_snapshot(row.id)  # an earlier claim's progress
            claim.fraction = before.fraction if before is not None else 0.0
            result = self._scan(claim, event)
            p, n = result.best, result.stats.pixel_fits
            final = Snapshot(1.0, n, n, n / max(result.stats.elapsed_s, 1e-9), 0.0,
                             (math.degrees(p.ra), math.degrees(p.dec), p.llh))
            # The heartbeat goes on while publishing (claim.done is set only in finally).
            finished = self.publisher.finish(row, claim.token, result, final)
            why = "" if finished.note is None else f"; {finished.note}"
            log.info("scan %s done in %.1f s%s", row.id, result.stats.elapsed_s, why,
                     extra={**fields, "outcome": "done"})
        except ScanCancelled:
            self._settle_cancelled(claim)
        except LostClaim:
            _log_lost(claim)
        except Exception as exc:
            if self._stop.is_set():  # the cluster went away because we are stopping
                self._release(claim)
            else:
                log.exception("scan %s failed: %s: %s", row.id, type(exc).__name__, exc,
                              extra={**fields, "outcome": "failed"})
                with contextlib.suppress(LostClaim):
                    self.scans.finish(row.id, claim.token, "failed",
                                      f"{type(exc).__name__}: {exc}")
        finally:
            claim.done.set()
            beat.join(self.config.heartbeat_s + 5)
            with self._lock:
                self._active.pop(row.id, None)

    def _scan(self, claim: _Claim, event: Event) -> ScanResult:
        """Run the scan on Dask; a realtime one again after an infrastructure failure."""
        row, fields, retry = claim.row, _fields(claim), 0
        stream = getattr(self.raw.get(row.raw_event_pk), "stream", None)  # Cascade → cascade
        while True:
            log.info("scan %s started on Dask (try %d)", row.id, retry + 1, extra=fields)
            try:
                with annotate(priority=DASK_PRIORITY.get(row.priority, 0)):
                    return run_scan(event, self.detector(), config_to_reco(row.config),
                                    client=self.clients.get(), progress=self._progress(claim),
                                    cancel=claim.cancel, stream=stream)
            except OSError as exc:  # scheduler unreachable, connection closed, timeouts
                if (row.priority != "realtime" or retry >= self.config.infra_retries
                        or claim.cancel.is_set() or self._stop.is_set()):
                    raise
                retry += 1
                delay = self.config.infra_delay(retry)
                log.warning("scan %s: infrastructure failure (%s: %s); try %d of %d in %.1f s",
                            row.id, type(exc).__name__, exc, retry + 1,
                            self.config.infra_retries + 1, delay,
                            extra={**fields, "delay_s": delay})
                self.on_retry(row)
                self.clients.reset()
                if claim.cancel.wait(delay):
                    raise ScanCancelled("stopped while waiting to try again") from exc

    def _settle_cancelled(self, claim: _Claim) -> None:
        if claim.lost:  # a heartbeat or snapshot found the claim taken: reco was stopped
            _log_lost(claim)
            return
        if claim.aborted or claim.row.abort_requested_at is not None:
            log.info("scan %s aborted", claim.row.id,
                     extra={**_fields(claim), "outcome": "aborted"})
            with contextlib.suppress(LostClaim):
                self.scans.finish(claim.row.id, claim.token, "aborted")
        else:  # stopped by our shutdown: give it back for the next runner
            log.info("scan %s released (shutdown)", claim.row.id, extra=_fields(claim))
            self._release(claim)

    def _release(self, claim: _Claim) -> None:
        try:
            self.scans.release(claim.row.id, claim.token)
        except Exception:  # the database is away too: the heartbeat will go stale
            log.exception("scan %s: release failed", claim.row.id)

    def _progress(self, claim: _Claim) -> Callable[[ScanProgress], None]:
        def report(p: ScanProgress) -> None:
            now = time.monotonic()
            if now - claim.last_snapshot < self.config.snapshot_s or claim.cancel.is_set():
                return
            claim.last_snapshot = now
            snap = partial_snapshot(p, claim.fraction)  # only forward, never 1 (progress.py)
            claim.fraction = snap.fraction
            try:
                self.scans.add_snapshot(claim.row.id, claim.token, snap)
            except LostClaim:
                claim.lost = True
                claim.cancel.set()

        return report

    def _heartbeat(self, claim: _Claim) -> None:
        while not claim.done.wait(self.config.heartbeat_s):
            try:
                if self.scans.heartbeat(claim.row.id, claim.token):
                    claim.aborted = True
                    claim.cancel.set()
            except LostClaim:
                claim.lost = True
                claim.cancel.set()
                return
            except Exception:  # database away: keep trying; staleness decides
                log.exception("scan %s: heartbeat failed", claim.row.id)

    # ------------------------------------------------------------ background

    def wake(self) -> None:
        """Look at the queue now (after a scan was queued)."""
        with self._wake:
            self._wake.notify_all()

    def start(self) -> None:
        """Start the slots' threads (once)."""
        if self._threads:
            return
        self._stop.clear()
        for slot, lanes in enumerate(self.lanes()):
            t = threading.Thread(target=self._loop, args=(slot, lanes), daemon=True,
                                 name=f"nufair-scan-slot-{slot}")
            t.start()
            self._threads.append(t)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop: running scans are cancelled and released (re-queued), then the Dask client
        is closed."""
        self._stop.set()
        with self._lock:
            for claim in self._active.values():
                claim.cancel.set()
        self.wake()
        for t in self._threads:
            t.join(timeout_s)
        self._threads = []
        self.clients.close()

    def _loop(self, slot: int, lanes: tuple[Priority, ...]) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_one(lanes, slot) is not None
            except Exception:  # database away: log, wait, try again
                log.exception("scan slot %d: pass failed", slot)
                ran = False
            if ran or self._stop.is_set():
                continue
            with self._wake:
                self._wake.wait(self.config.poll_s)


def _fields(claim: _Claim) -> dict[str, object]:
    """The ids a log line about ``claim`` carries as fields (:mod:`nufair.logs`)."""
    return {"scan_id": claim.row.id, "claim": claim.row.claims, "worker": claim.worker,
            "priority": claim.row.priority}


def _log_lost(claim: _Claim) -> None:
    log.warning("scan %s: %s lost its claim (claim %d, token %s) to another runner; "
                "stopped, nothing more written", claim.row.id, claim.worker, claim.row.claims,
                claim.token[:8], extra={**_fields(claim), "outcome": "lost"})

