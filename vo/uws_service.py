"""TAP async jobs: the rules of the UWS 1.1 job list and the threads that run the jobs.

Jobs are rows of ``uws_jobs`` (:mod:`vo.uws_storage`), so a restart keeps them and every app
process (``uvicorn --workers N``, several machines) sees and runs every job. Each process
runs:

* ``workers`` runner threads, each taking the oldest QUEUED job of the whole list (woken at
  once by a RUN in any process, and polling every ``poll_s`` in case a wake-up was lost);
* one listener thread on the phase-change notifications, which wakes the runners and the
  ``WAIT`` polls of this process;
* one sweeper thread that every ``sweep_s`` turns EXECUTING jobs whose process died into
  ERROR and removes jobs past their destruction time. It also runs once at start-up, so a
  restarted server reports the jobs it lost instead of showing them EXECUTING forever.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from time import monotonic
from typing import Any

from vo.errors import NotFoundError, VoError
from vo.service import TapResult
from vo.uws_storage import ACTIVE, Claim, Job, PhaseListener, UwsStorage

logger = logging.getLogger(__name__)

#: Error summary of a job whose server stopped (crash, kill, restart) while it ran.
ORPHANED = ("the server executing this job stopped before the job finished "
            "(it was restarted or crashed); submit the query again")

#: Error summary of a job still running when its server was shut down cleanly.
SHUT_DOWN = ("the server was shut down while this job was executing; "
             "submit the query again")

#: A WAIT re-reads the phase at least this often, in case a notification was lost.
WAIT_RECHECK_S = 1.0

#: The listener pings its connection after this long without a notification.
LISTEN_PING_S = 30.0

#: How long stopping waits for a runner thread to finish the job it is executing.
STOP_GRACE_S = 5.0

#: Runs a job: (job, its uploaded tables) → the TAP result, or raises VoError.
Executor = Callable[[Job, Mapping[str, bytes]], TapResult]


@dataclass(frozen=True, slots=True)
class JobLimits:
    """Defaults and timings of the job list (built from :class:`vo.config.VoConfig`)."""

    retention_s: float
    duration_s: int
    workers: int
    poll_s: float
    sweep_s: float


class JobService:
    """Create, run, abort, wait for, list and destroy TAP jobs."""

    def __init__(self, storage: UwsStorage, execute: Executor, limits: JobLimits) -> None:
        self.storage = storage
        self.execute = execute
        self.limits = limits
        #: This process, as recorded on the jobs it runs.
        self.runner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._waiters_lock = threading.Lock()
        self._pipe_r, self._pipe_w = os.pipe()
        self._threads: list[threading.Thread] = []

    # ---------------------------------------------------------------- lifetime
    def start(self) -> None:
        """Recover what a dead process left, then start the threads."""
        self._sweep_once()
        targets: list[tuple[str, Callable[[], None]]] = [("uws-listen", self._listen),
                                                         ("uws-sweep", self._sweep)]
        targets += [(f"uws-run-{i}", self._work) for i in range(self.limits.workers)]
        for name, target in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the threads; jobs still executing here become ERROR (:data:`SHUT_DOWN`)."""
        self._stop.set()
        self._wake.set()
        os.write(self._pipe_w, b"x")
        deadline = monotonic() + STOP_GRACE_S
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - monotonic()))
        try:
            self.storage.fail_running(self.runner, SHUT_DOWN)
        except Exception:  # the database is gone: the next sweep reports them as orphans
            logger.warning("could not mark this server's running jobs", exc_info=True)
        for fd in (self._pipe_r, self._pipe_w):
            os.close(fd)

    # -------------------------------------------------------------- job rules
    def create(self, params: Mapping[str, Any], uploads: Mapping[str, bytes]) -> Job:
        run = str(params.get("PHASE", "")).upper() == "RUN"
        job = self.storage.create(
            uuid.uuid4().hex[:16], {k: v for k, v in params.items() if k != "PHASE"}, uploads,
            run_id=params.get("RUNID"), duration_s=self.limits.duration_s,
            retention_s=self.limits.retention_s, queued=run)
        if run:
            self._wake.set()
        return job

    def get(self, job_id: str) -> Job:
        job = self.storage.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id}")
        return job

    def run(self, job: Job) -> None:
        if self.storage.queue(job.id):
            self._wake.set()

    def abort(self, job: Job) -> None:
        self.storage.abort(job.id)

    def delete(self, job: Job) -> None:
        self.storage.delete(job.id)

    def update_params(self, job: Job, params: Mapping[str, Any],
                      uploads: Mapping[str, bytes]) -> None:
        """Change parameters of a PENDING job; ignored in any other phase (UWS 1.1)."""
        self.storage.update_params(job.id, params, uploads)

    def set_destruction(self, job: Job, when: datetime) -> None:
        self.storage.set_destruction(job.id, when)

    def set_duration(self, job: Job, seconds: int) -> None:
        self.storage.set_duration(job.id, seconds)

    def result(self, job: Job) -> tuple[bytes, str] | None:
        return self.storage.result(job.id)

    def listing(self, phases: list[str], after: datetime | None, last: int | None) -> list[Job]:
        return self.storage.listing(phases, after, last)

    def wait(self, job: Job, seconds: float, phase: str | None) -> Job | None:
        """UWS 1.1 blocking poll: return when the phase leaves ``phase`` or time runs out.

        The job as it is then (None: deleted meanwhile). Woken by the notification of any
        process; the phase is also re-read every :data:`WAIT_RECHECK_S`.
        """
        start_phase = phase or job.phase
        if start_phase not in ACTIVE or job.phase != start_phase:
            return job
        deadline = monotonic() + max(seconds, 0.0)
        event = threading.Event()
        with self._waiters_lock:
            self._waiters.setdefault(job.id, set()).add(event)
        try:
            while True:
                current = self.storage.get(job.id)
                remaining = deadline - monotonic()
                if current is None or current.phase != start_phase or remaining <= 0:
                    return current
                event.wait(min(remaining, WAIT_RECHECK_S))
                event.clear()
        finally:
            with self._waiters_lock:
                waiting = self._waiters.get(job.id, set())
                waiting.discard(event)
                if not waiting:
                    self._waiters.pop(job.id, None)

    # ---------------------------------------------------------------- threads
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                with self.storage.claim_next(self.runner) as claim:
                    if claim is not None:
                        self._wake.set()  # another idle runner may take the next one
                        self._execute(claim)
                        continue
            except Exception:  # a runner thread must survive a database outage
                logger.warning("TAP job runner: claim failed", exc_info=True)
            self._wake.wait(self.limits.poll_s)
            self._wake.clear()

    def _execute(self, claim: Claim) -> None:
        job = claim.job
        try:
            out = self.execute(job, claim.uploads)
        except VoError as exc:
            self.storage.finish(job.id, self.runner, error=exc.message)
        except Exception as exc:  # every failure is recorded on its job
            logger.exception("TAP job %s failed", job.id)
            self.storage.finish(job.id, self.runner, error=f"internal error: {type(exc).__name__}")
        else:
            self.storage.finish(job.id, self.runner, result=out.body, media_type=out.media_type,
                                rows=out.rows, overflow=out.overflow)

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            listener = None
            try:
                listener = PhaseListener(self.storage.engine)
                backoff = 0.5
                self._notify_all()  # notifications may have been missed while disconnected
                while not self._stop.is_set():
                    ready, _, _ = select.select([listener.fileno(), self._pipe_r], [], [],
                                                LISTEN_PING_S)
                    if self._stop.is_set():
                        break
                    if not ready:
                        listener.ping()
                        continue
                    for job_id, phase in listener.drain():
                        if phase == "QUEUED":
                            self._wake.set()
                        self._notify(job_id)
            except Exception:  # reconnect; WAIT and the runners poll meanwhile
                logger.warning("TAP job listener lost its connection", exc_info=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                if listener is not None:
                    listener.close()

    def _notify(self, job_id: str) -> None:
        with self._waiters_lock:
            events = list(self._waiters.get(job_id, ()))
        for event in events:
            event.set()

    def _notify_all(self) -> None:
        self._wake.set()
        with self._waiters_lock:
            events = [e for waiting in self._waiters.values() for e in waiting]
        for event in events:
            event.set()

    def _sweep(self) -> None:
        while not self._stop.wait(self.limits.sweep_s):
            self._sweep_once()

    def _sweep_once(self) -> None:
        try:
            lost = self.storage.recover_orphans(ORPHANED)
            if lost:
                logger.warning("TAP jobs %s lost their server and are now ERROR", lost)
            self.storage.sweep_destroyed()
        except Exception:  # the next pass retries
            logger.warning("TAP job sweep failed", exc_info=True)
