"""TAP async jobs: the rules of the UWS 1.1 job list and the threads that run the jobs.

Jobs are rows of ``uws_jobs`` (:mod:`vo.uws.storage`), so a restart keeps them and every app
process (``uvicorn --workers N``, several machines) sees and runs every job. Each process
runs:

* ``workers`` runner threads, each taking the next QUEUED job of the whole list (woken at
  once by a RUN in any process, and polling every ``poll_s`` in case a wake-up was lost);
  the next job is chosen fairly: the oldest of the owners with the fewest running jobs, and
  an owner with ``JobPolicy.owner_running`` jobs running gets no more runners;
* one listener thread on the phase-change notifications, which wakes the runners and the
  ``WAIT`` polls of this process (coroutines on the event loop: a WAIT holds no thread);
* one sweeper thread that every ``sweep_s`` turns EXECUTING jobs whose process died into
  ERROR and removes jobs past their destruction time. It also runs once at start-up, so a
  restarted server reports the jobs it lost instead of showing them EXECUTING forever.

The caps and bounds are :mod:`vo.uws.policy`'s, the WAIT gate :mod:`vo.uws.waits`'s.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import secrets
import select
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import datetime
from time import monotonic
from typing import Any

from anyio import to_thread

from vo.errors import Forbidden, NotFound, ServiceBusy, TooManyJobs, VoError
from vo.service import TapResult
from vo.uws.documents import parse_time
from vo.uws.notifications import PhaseListener
from vo.uws.policy import RETRY_AFTER_S, Caller, JobLimits, JobPolicy
from vo.uws.storage import ACTIVE, Claim, Counts, Job, UwsStorage
from vo.uws.waits import Waiter, WaitGate

logger = logging.getLogger(__name__)

#: Error summary of a job whose server stopped (crash, kill, restart) while it ran.
ORPHANED = ("the server executing this job stopped before the job finished "
            "(it was restarted or crashed); submit the query again")

#: Error summary of a job still running when its server was shut down cleanly.
SHUT_DOWN = ("the server was shut down while this job was executing; "
             "submit the query again")

#: A WAIT re-reads the phase at least this often while the listener is not connected
#: (notifications are then lost; it wakes every WAIT when it connects again).
WAIT_RECHECK_S = 1.0

#: While the listener is connected a WAIT sleeps until a notification, the end of its wait
#: or this long: a guard only (issue 12: 45 WAITs re-reading their job each second cost
#: worker threads and queries under the floods).
WAIT_GUARD_S = 30.0

#: The listener pings its connection after this long without a notification.
LISTEN_PING_S = 30.0

#: How long stopping waits for a runner thread to finish the job it is executing.
STOP_GRACE_S = 5.0

#: Runs a job: (job, its uploaded tables) → the TAP result, or raises VoError.
Executor = Callable[[Job, Mapping[str, bytes]], TapResult]


#: What a job id looks like: ours are ``secrets.token_urlsafe(24)`` (192 bits), older ones 16
#: hex digits. Anything else (a NUL byte, a megabyte of text) is no job, answered 404.
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: UWS parameters that are attributes of the job, not parameters of its query.
JOB_ATTRIBUTES = ("DESTRUCTION", "EXECUTIONDURATION")


class JobService:
    """Create, run, abort, wait for, list and destroy TAP jobs."""

    def __init__(self, storage: UwsStorage, execute: Executor, limits: JobLimits,
                 policy: JobPolicy | None = None) -> None:
        self.storage = storage
        self.execute = execute
        self.limits = limits
        self.policy = policy or JobPolicy()
        self.waits = WaitGate(self.policy.waits_per_client, self.policy.waits_total)
        #: This process, as recorded on the jobs it runs.
        self.runner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._waiters: dict[str, set[Waiter]] = {}
        self._waiters_lock = threading.Lock()
        #: Set while the listener holds a connection that LISTENs (see :meth:`wait`).
        self.listening = threading.Event()
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
    def create(self, caller: Caller, params: Mapping[str, Any],
               uploads: Mapping[str, bytes]) -> Job:
        """A new job of ``caller`` (QUEUED at once with PHASE=RUN), within the caps."""
        check_text(params, uploads)
        run = str(params.get("PHASE", "")).upper() == "RUN"
        query = {k: v for k, v in params.items() if k != "PHASE" and k not in JOB_ATTRIBUTES}
        duration = self.duration(params.get("EXECUTIONDURATION"))
        when = parse_time(str(params["DESTRUCTION"])) if params.get("DESTRUCTION") else None
        job = self.storage.create(
            secrets.token_urlsafe(24), query, uploads, owner=caller.owner,
            quota_key=caller.quota_key, run_id=params.get("RUNID"), duration_s=duration,
            retention_s=min(self.limits.retention_s, self.policy.max_destruction_s),
            queued=run, admit=functools.partial(self._admit, adding=_size(uploads)))
        if when is not None:
            self.set_destruction(job, when)
            job = self.get(job.id, caller)
        if run:
            self._wake.set()
        return job

    def _admit(self, counts: Counts, adding: int, new_job: bool = True) -> None:
        """Refuse a creation (or ``adding`` bytes of uploads) over a cap.

        Called under the quota key's creation lock, in the transaction that writes.
        """
        p = self.policy
        if counts.key_bytes + adding > p.owner_bytes:
            raise TooManyJobs(f"TooManyJobs: your jobs keep {counts.key_bytes} bytes of "
                              f"results and uploads, {adding} more would pass the "
                              f"{p.owner_bytes}-byte limit; delete some jobs", RETRY_AFTER_S)
        if counts.all_bytes + adding > p.all_bytes:
            raise ServiceBusy("ServiceBusy: the job store is full; try again later", RETRY_AFTER_S)
        if not new_job:
            return
        if counts.key_active >= p.owner_active:
            raise TooManyJobs(f"TooManyJobs: you have {counts.key_active} jobs pending, queued "
                              f"or executing, the most allowed is {p.owner_active}; wait for "
                              "them to end or delete some", RETRY_AFTER_S)
        if counts.key_kept >= p.owner_jobs:
            raise TooManyJobs(f"TooManyJobs: you keep {counts.key_kept} jobs, the most allowed "
                              f"is {p.owner_jobs}; delete some (DELETE /tap/async/<id>)",
                              RETRY_AFTER_S)
        if counts.all_active >= p.all_active:
            raise ServiceBusy(f"ServiceBusy: the service has {counts.all_active} active jobs, "
                              "its limit; try again later", RETRY_AFTER_S)

    def get(self, job_id: str, caller: Caller) -> Job:
        """The job, if ``caller`` may see it: its owner's, or anonymous (known by its id)."""
        job = self.storage.get(job_id) if JOB_ID.fullmatch(job_id) else None
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        if job.owner is not None and job.owner != caller.owner:
            raise Forbidden(f"job {job_id} belongs to another owner: send the bearer token "
                            "that created it")
        return job

    def run(self, job: Job) -> None:
        """Queue a PENDING job (PHASE=RUN) and wake a runner."""
        if self.storage.queue(job.id):
            self._wake.set()

    def abort(self, job: Job) -> None:
        """Abort the job if it may still change (PENDING, QUEUED, EXECUTING)."""
        self.storage.abort(job.id)

    def delete(self, job: Job) -> None:
        """Destroy the job now, with its uploads and result."""
        self.storage.delete(job.id)

    def update_params(self, job: Job, params: Mapping[str, Any],
                      uploads: Mapping[str, bytes]) -> None:
        """Change parameters of a PENDING job; ignored in any other phase (UWS 1.1).

        DESTRUCTION and EXECUTIONDURATION change the job's attributes, bounded.
        """
        check_text(params, uploads)
        when = parse_time(str(params["DESTRUCTION"])) if params.get("DESTRUCTION") else None
        seconds = self.duration(params["EXECUTIONDURATION"]) if params.get(
            "EXECUTIONDURATION") else None
        if when is not None:
            self.set_destruction(job, when)
        if seconds is not None:
            self.set_duration(job, seconds)
        query = {k: v for k, v in params.items() if k not in JOB_ATTRIBUTES}
        if query or uploads:
            self.storage.update_params(job.id, query, uploads, quota_key=job.quota_key,
                                       admit=functools.partial(self._admit, adding=_size(uploads),
                                                               new_job=False))

    def set_destruction(self, job: Job, when: datetime) -> None:
        """Destroy the job at ``when``, clamped to ``max_destruction_s`` from now."""
        self.storage.set_destruction(job.id, when, self.policy.max_destruction_s)

    def duration(self, raw: Any) -> int:
        """Execution duration in seconds asked for: 1 to the database timeout.

        None, 0 (unlimited, in UWS) or more than the limit is the limit.
        """
        limit = self.limits.duration_s
        if raw is None or str(raw).strip() == "":
            return limit
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise VoError(f"EXECUTIONDURATION must be an integer, not {str(raw)!r}") from None
        return limit if value <= 0 else min(value, limit)

    def set_duration(self, job: Job, seconds: int) -> None:
        """Set the execution duration (already bounded by :meth:`duration`)."""
        self.storage.set_duration(job.id, seconds)

    def result(self, job: Job) -> tuple[bytes, str] | None:
        """The result document and its media type (None unless COMPLETED)."""
        return self.storage.result(job.id)

    def listing(self, caller: Caller, phases: list[str], after: datetime | None,
                last: int | None) -> list[Job]:
        """The caller's own jobs; none for anonymous callers (their jobs are private to
        whoever holds their ids, so no list shows them)."""
        if caller.owner is None:
            return []
        return self.storage.listing(caller.owner, phases, after, last)

    async def wait(self, job: Job, seconds: float, phase: str | None) -> Job | None:
        """UWS 1.1 blocking poll: return when the phase leaves ``phase`` or time runs out.

        The job as it is then (None: deleted meanwhile). A coroutine: waiting holds no
        thread. The job is read (in a worker thread, briefly) once it is waited for, when a
        notification of any process wakes it, and at the end; in between it is re-read
        every :data:`WAIT_RECHECK_S` only while notifications may be lost (the listener
        not connected), else every :data:`WAIT_GUARD_S`.
        """
        start_phase = phase or job.phase
        if start_phase not in ACTIVE or job.phase != start_phase:
            return job
        deadline = monotonic() + max(seconds, 0.0)
        waiter = Waiter(asyncio.get_running_loop(), asyncio.Event())
        with self._waiters_lock:
            self._waiters.setdefault(job.id, set()).add(waiter)
        try:
            while True:
                current = await to_thread.run_sync(self.storage.get, job.id)
                remaining = deadline - monotonic()
                if current is None or current.phase != start_phase or remaining <= 0:
                    return current
                recheck = WAIT_GUARD_S if self.listening.is_set() else WAIT_RECHECK_S
                with suppress(TimeoutError):
                    await asyncio.wait_for(waiter.event.wait(), min(remaining, recheck))
                waiter.event.clear()
        finally:
            with self._waiters_lock:
                waiting = self._waiters.get(job.id, set())
                waiting.discard(waiter)
                if not waiting:
                    self._waiters.pop(job.id, None)

    # ---------------------------------------------------------------- threads
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                with self.storage.claim_next(self.runner, self.policy.owner_running) as claim:
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
            limit = self.policy.result_bytes
            if len(out.body) > limit:
                fits = max(1, out.rows * limit // len(out.body))
                self.storage.finish(job.id, self.runner, error=(
                    f"ResultTooLarge: the result is {len(out.body)} bytes, over the "
                    f"{limit}-byte limit of async results; ask for fewer rows (MAXREC={fits} "
                    "would fit) or fewer columns"))
            else:
                self.storage.finish(job.id, self.runner, result=out.body,
                                    media_type=out.media_type)

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            listener = None
            try:
                listener = PhaseListener(self.storage.engine)
                backoff = 0.5
                self.listening.set()
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
                self.listening.clear()
                self._notify_all()  # the WAITs poll at WAIT_RECHECK_S from now on
                logger.warning("TAP job listener lost its connection", exc_info=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                self.listening.clear()
                if listener is not None:
                    listener.close()

    def _notify(self, job_id: str) -> None:
        with self._waiters_lock:
            waiters = list(self._waiters.get(job_id, ()))
        for waiter in waiters:
            waiter.wake()

    def _notify_all(self) -> None:
        self._wake.set()
        with self._waiters_lock:
            waiters = [w for waiting in self._waiters.values() for w in waiting]
        for waiter in waiters:
            waiter.wake()

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


def _size(uploads: Mapping[str, bytes]) -> int:
    return sum(len(v) for v in uploads.values())


def check_text(params: Mapping[str, Any], uploads: Mapping[str, bytes]) -> None:
    """Refuse parameter or upload names, or values, with a NUL byte (the database stores
    no NUL in text)."""
    for key, value in params.items():
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise VoError(f"parameter {key!r} contains a NUL byte")
    for name in uploads:
        if "\x00" in name:
            raise VoError(f"upload {name!r}: a NUL byte in its name")

