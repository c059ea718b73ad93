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

Bounds (issue 12, :class:`JobPolicy`): a job belongs to its creator's bearer token (its
SHA-256) or, without a token, to nobody; anonymous jobs are reachable by their id only,
192 random bits. Caps count jobs per *quota key*: the owner, or ``ip:<client address>``
for anonymous jobs (so behind a proxy, uvicorn must be told to trust its forwarded
headers). Over a cap a creation is refused with 429 (that key) or 503 (everybody);
DESTRUCTION and EXECUTIONDURATION are clamped to their maxima, as UWS lets a service do;
a result over ``result_bytes`` turns its job into ERROR, saying which MAXREC would fit.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import math
import os
import re
import secrets
import select
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from time import monotonic
from typing import Any

from anyio import to_thread

from vo.errors import NotFoundError, VoError
from vo.service import TapResult
from vo.uws.documents import parse_time
from vo.uws.storage import ACTIVE, Claim, Counts, Job, PhaseListener, UwsStorage

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


#: What a job id looks like: ours are ``secrets.token_urlsafe(24)`` (192 bits), older ones 16
#: hex digits. Anything else (a NUL byte, a megabyte of text) is no job, answered 404.
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: UWS parameters that are attributes of the job, not parameters of its query.
JOB_ATTRIBUTES = ("DESTRUCTION", "EXECUTIONDURATION")


class Unauthorized(VoError):
    """A bearer token the service does not know."""

    status = 401


class Forbidden(VoError):
    """A job of another owner."""

    status = 403


class TooManyJobs(VoError):
    """The caller's quota key is at one of its caps."""

    status = 429


class ServiceBusy(VoError):
    """The whole service is at its cap of active jobs."""

    status = 503


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sends a request: the token owner (SHA-256 hex; None: anonymous) and quota key."""

    owner: str | None
    quota_key: str

    @classmethod
    def of(cls, owner: str | None, address: str | None) -> Caller:
        """An owner is their own quota key; an anonymous caller's is their address.

        An IPv6 address counts as its /64 network: one host gets a whole /64.
        """
        return cls(owner, owner if owner is not None else client_key(address))


def client_key(address: str | None) -> str:
    """``ip:<address>`` (IPv6: ``ip:<its /64>``) of an anonymous caller."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return f"ip:{address or 'unknown'}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"ip:{ip}"


@dataclass(frozen=True, slots=True)
class JobPolicy:
    """Caps and bounds of the job list (issue 12); the defaults are the service's.

    ``owner_active``: PENDING/QUEUED/EXECUTING jobs per quota key; ``owner_jobs``: jobs
    kept per quota key (any phase); ``all_active``: active jobs of everybody;
    ``owner_running``: EXECUTING jobs per quota key (fair scheduling); ``owner_bytes`` and
    ``all_bytes``: bytes of results and uploads kept per quota key and in all (checked
    before new uploads are stored; a result lands whole); ``max_destruction_s``:
    the latest destruction time, from now; ``result_bytes``: the largest result kept;
    ``wait_s``: the longest WAIT; ``waits_per_client`` and ``waits_total``: WAITs held at
    once per quota key and in all (per process); over them a WAIT answers at once.
    """

    owner_active: int = 10
    owner_jobs: int = 100
    all_active: int = 1000
    owner_running: int = 1
    owner_bytes: int = 256 * 1024 * 1024
    all_bytes: int = 8 * 1024 * 1024 * 1024
    max_destruction_s: float = 7 * 86_400
    result_bytes: int = 16 * 1024 * 1024
    wait_s: float = 60.0
    waits_per_client: int = 4
    waits_total: int = 200


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
        self._waiters: dict[str, set[_Waiter]] = {}
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
                              f"{p.owner_bytes}-byte limit; delete some jobs")
        if counts.all_bytes + adding > p.all_bytes:
            raise ServiceBusy("ServiceBusy: the job store is full; try again later")
        if not new_job:
            return
        if counts.key_active >= p.owner_active:
            raise TooManyJobs(f"TooManyJobs: you have {counts.key_active} jobs pending, queued "
                              f"or executing, the most allowed is {p.owner_active}; wait for "
                              "them to end or delete some")
        if counts.key_kept >= p.owner_jobs:
            raise TooManyJobs(f"TooManyJobs: you keep {counts.key_kept} jobs, the most allowed "
                              f"is {p.owner_jobs}; delete some (DELETE /tap/async/<id>)")
        if counts.all_active >= p.all_active:
            raise ServiceBusy(f"ServiceBusy: the service has {counts.all_active} active jobs, "
                              "its limit; try again later")

    def get(self, job_id: str, caller: Caller) -> Job:
        """The job, if ``caller`` may see it: its owner's, or anonymous (known by its id)."""
        job = self.storage.get(job_id) if JOB_ID.fullmatch(job_id) else None
        if job is None:
            raise NotFoundError(f"no job {job_id!r}")
        if job.owner is not None and job.owner != caller.owner:
            raise Forbidden(f"job {job_id} belongs to another owner: send the bearer token "
                            "that created it")
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
        self.storage.set_duration(job.id, seconds)

    def result(self, job: Job) -> tuple[bytes, str] | None:
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
        thread. Woken by the notification of any process; the phase is also re-read (in a
        worker thread, briefly) every :data:`WAIT_RECHECK_S`.
        """
        start_phase = phase or job.phase
        if start_phase not in ACTIVE or job.phase != start_phase:
            return job
        deadline = monotonic() + max(seconds, 0.0)
        waiter = _Waiter(asyncio.get_running_loop(), asyncio.Event())
        with self._waiters_lock:
            self._waiters.setdefault(job.id, set()).add(waiter)
        try:
            while True:
                current = await to_thread.run_sync(self.storage.get, job.id)
                remaining = deadline - monotonic()
                if current is None or current.phase != start_phase or remaining <= 0:
                    return current
                with suppress(TimeoutError):
                    await asyncio.wait_for(waiter.event.wait(),
                                           min(remaining, WAIT_RECHECK_S))
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


@dataclass(frozen=True, slots=True, eq=False)
class _Waiter:
    """A WAIT coroutine: its event, set from the listener thread through its loop."""

    loop: asyncio.AbstractEventLoop
    event: asyncio.Event

    def wake(self) -> None:
        """Set the event (thread-safe); a loop already closed has nobody left to wake."""
        with suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.event.set)


class WaitGate:
    """Caps of the WAITs held at once: per quota key and in all (this process)."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.total = total
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def held(self) -> int:
        """WAITs held now."""
        with self._lock:
            return sum(self._held.values())

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[bool]:
        """Yields True if ``key`` may wait now (and holds a slot until the block ends)."""
        with self._lock:
            mine = self._held.get(key, 0)
            allowed = mine < self.per_client and sum(self._held.values()) < self.total
            if allowed:
                self._held[key] = mine + 1
        try:
            yield allowed
        finally:
            if allowed:
                with self._lock:
                    left = self._held[key] - 1
                    if left:
                        self._held[key] = left
                    else:
                        del self._held[key]


def wait_seconds(raw: Any, longest: float) -> float:
    """Seconds a WAIT asks for: negative or infinite is the longest, as is more than that."""
    try:
        wait = float(str(raw))
    except ValueError:
        raise VoError("WAIT must be a number of seconds") from None
    if math.isnan(wait):
        raise VoError("WAIT must be a number of seconds")
    return longest if wait < 0 else min(wait, longest)


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

