"""Storage of TAP async (UWS) jobs: every SQL statement on ``uws_jobs``.

This is the only module of the VO layer that writes, and only its own job tables, never the
catalog. Three mechanisms make the job list shared by every app process and safe across
crashes:

* **Claims.** A QUEUED job is taken by one runner with ``SELECT ... FOR UPDATE SKIP
  LOCKED``; in the same transaction the runner takes a session-level advisory lock
  ``(LOCK_SPACE, lock_key)`` on a connection it keeps until the job is finished. Claims are
  serialized by a transaction lock (``CLAIM_SPACE``) and fair: the job taken is the oldest
  of the quota keys with the fewest EXECUTING jobs, and a key at its running cap gets none.
* **Quotas.** Creations of one quota key are serialized by a transaction lock
  (``QUOTA_SPACE``, hash of the key), so a count-then-insert cap cannot be raced past.
* **Orphans.** The lock goes with the connection, so when a process dies its locks vanish:
  an EXECUTING job whose lock can be taken has lost its runner and is turned into ERROR
  (:meth:`UwsStorage.recover_orphans`).
* **Notifications.** Every phase change sends ``NOTIFY nufair_uws, '<job id> <phase>'`` in
  its own transaction (delivered at commit); :class:`vo.uws.notifications.PhaseListener`
  receives them, so a
  ``WAIT`` poll in one process returns as soon as another process finishes the job.

All times are the database's (``now()``): processes on several machines agree on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, and_, cast, delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.engine import Connection, Engine

from vo.uws.notifications import GONE, notify
from vo.uws.schema import uws_job_uploads, uws_jobs

#: First key of the two-key advisory locks of running jobs ("uws1" in ASCII): keeps them
#: apart from any other user of advisory locks on the same server.
LOCK_SPACE = 0x75777331

#: Advisory-lock space of the claim lock (one key, 0) and of the per-quota-key creation locks.
CLAIM_SPACE = LOCK_SPACE + 1
QUOTA_SPACE = LOCK_SPACE + 2

#: Phases in which a job may still change by itself.
ACTIVE = ("PENDING", "QUEUED", "EXECUTING")


@dataclass(frozen=True, slots=True)
class Job:
    """A job as ``/tap/async`` shows it (everything but the result bytes)."""

    id: str
    owner: str | None
    phase: str
    run_id: str | None
    params: dict[str, Any]
    uploads: tuple[str, ...]
    created: datetime
    started: datetime | None
    ended: datetime | None
    duration: int
    destruction: datetime
    error: str | None
    media_type: str | None
    quota_key: str


@dataclass(frozen=True, slots=True)
class Counts:
    """Jobs counted at a creation, inside its transaction (for the caps)."""

    key_active: int  #: PENDING, QUEUED or EXECUTING jobs of the creator's quota key
    key_kept: int  #: every job of that key not yet destroyed
    all_active: int  #: active jobs of everybody
    key_bytes: int  #: bytes of results and uploads the key's jobs keep
    all_bytes: int  #: bytes of results and uploads of everybody


@dataclass(frozen=True, slots=True)
class Claim:
    """A job this runner now executes, with the uploaded tables it needs."""

    job: Job
    uploads: dict[str, bytes]


_UPLOAD_NAMES = (
    select(func.coalesce(func.array_agg(aggregate_order_by(uws_job_uploads.c.name,
                                                           uws_job_uploads.c.name)),
                         literal_column("'{}'::text[]")))
    .where(uws_job_uploads.c.job_id == uws_jobs.c.id)
    .correlate(uws_jobs)
    .scalar_subquery()
    .label("upload_names"))

_JOB = select(uws_jobs.c.id, uws_jobs.c.owner, uws_jobs.c.phase, uws_jobs.c.run_id,
              uws_jobs.c.params, _UPLOAD_NAMES, uws_jobs.c.created_at, uws_jobs.c.started_at,
              uws_jobs.c.ended_at, uws_jobs.c.execution_duration_s, uws_jobs.c.destruction_at,
              uws_jobs.c.error, uws_jobs.c.result_media_type, uws_jobs.c.quota_key)

_ALIVE = uws_jobs.c.destruction_at > func.now()


def _job(r: Any) -> Job:
    return Job(id=r.id, owner=r.owner, phase=r.phase, run_id=r.run_id, params=dict(r.params),
               uploads=tuple(r.upload_names), created=r.created_at, started=r.started_at,
               ended=r.ended_at, duration=r.execution_duration_s,
               destruction=r.destruction_at, error=r.error, media_type=r.result_media_type,
               quota_key=r.quota_key)


def _next_job(per_key: int) -> Any:
    """The id of the job the next claim takes (a scalar subquery that locks its row)."""
    running = (select(uws_jobs.c.quota_key, func.count().label("n"))
               .where(uws_jobs.c.phase == "EXECUTING").group_by(uws_jobs.c.quota_key)
               .subquery("running"))
    busy = func.coalesce(running.c.n, 0)
    return (select(uws_jobs.c.id)
            .select_from(uws_jobs.outerjoin(running,
                                            running.c.quota_key == uws_jobs.c.quota_key))
            .where(uws_jobs.c.phase == "QUEUED", _ALIVE, busy < per_key)
            .order_by(busy, uws_jobs.c.created_at).limit(1)
            .with_for_update(of=uws_jobs, skip_locked=True).scalar_subquery())


class UwsStorage:
    """Create, change, claim, finish, list and sweep TAP jobs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ writes
    def create(self, job_id: str, params: Mapping[str, Any], uploads: Mapping[str, bytes],
               *, owner: str | None, quota_key: str, run_id: str | None, duration_s: int,
               retention_s: float, queued: bool,
               admit: Callable[[Counts], None] = lambda counts: None) -> Job:
        """A new job, PENDING (or QUEUED when ``queued``), destroyed ``retention_s`` from now.

        ``admit`` sees the counts of ``quota_key`` and of everybody, taken under that key's
        creation lock, and raises to refuse the job (nothing is written then).
        """
        phase = "QUEUED" if queued else "PENDING"
        with self.engine.begin() as conn:
            admit(self._counts(conn, quota_key))
            conn.execute(uws_jobs.insert().values(
                # Milliseconds, as the job documents show it: AFTER=<a shown creationTime>
                # then excludes that job itself.
                created_at=func.date_trunc("milliseconds", func.now()),
                id=job_id, owner=owner, quota_key=quota_key, phase=phase, run_id=run_id,
                params=dict(params),
                execution_duration_s=duration_s,
                destruction_at=func.now() + timedelta(seconds=retention_s)))
            if uploads:
                conn.execute(uws_job_uploads.insert(), [
                    {"job_id": job_id, "name": k, "content": v} for k, v in uploads.items()])
            if queued:
                notify(conn, job_id, phase)
            return _job(conn.execute(_JOB.where(uws_jobs.c.id == job_id)).one())

    @staticmethod
    def _counts(conn: Connection, quota_key: str) -> Counts:
        """Counts for the caps; takes ``quota_key``'s creation lock until the commit."""
        conn.execute(select(func.pg_advisory_xact_lock(QUOTA_SPACE, func.hashtext(quota_key))))
        active = uws_jobs.c.phase.in_(ACTIVE)
        mine = uws_jobs.c.quota_key == quota_key
        # octet_length of a stored (TOASTed) value reads its header only, not the bytes.
        uploaded = (select(func.coalesce(func.sum(func.octet_length(uws_job_uploads.c.content)),
                                         0))
                    .where(uws_job_uploads.c.job_id == uws_jobs.c.id).correlate(uws_jobs)
                    .scalar_subquery())
        size = func.coalesce(func.octet_length(uws_jobs.c.result), 0) + uploaded
        row = conn.execute(select(
            func.count().filter(mine, active).label("key_active"),
            func.count().filter(mine).label("key_kept"),
            func.count().filter(active).label("all_active"),
            func.coalesce(func.sum(size).filter(mine), 0).label("key_bytes"),
            func.coalesce(func.sum(size), 0).label("all_bytes"),
        ).where(_ALIVE)).one()
        return Counts(int(row.key_active), int(row.key_kept), int(row.all_active),
                      int(row.key_bytes), int(row.all_bytes))

    def update_params(self, job_id: str, params: Mapping[str, Any],
                      uploads: Mapping[str, bytes], *, quota_key: str,
                      admit: Callable[[Counts], None] = lambda counts: None) -> bool:
        """Add or replace parameters and uploads of a PENDING job (False: not PENDING).

        ``admit`` sees the counts of ``quota_key`` (the job's) and raises to refuse.
        """
        with self.engine.begin() as conn:
            if uploads:
                admit(self._counts(conn, quota_key))
            changed = conn.execute(
                update(uws_jobs).where(uws_jobs.c.id == job_id, uws_jobs.c.phase == "PENDING")
                .values(params=uws_jobs.c.params.concat(dict(params)))).rowcount
            if changed and uploads:
                stmt = insert(uws_job_uploads).values(
                    [{"job_id": job_id, "name": k, "content": v} for k, v in uploads.items()])
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=[uws_job_uploads.c.job_id, uws_job_uploads.c.name],
                    set_={"content": stmt.excluded.content}))
        return bool(changed)

    def _set_phase(self, job_id: str, phase: str, allowed: Sequence[str], **values: Any
                   ) -> bool:
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(uws_jobs).where(uws_jobs.c.id == job_id, uws_jobs.c.phase.in_(allowed),
                                       _ALIVE)
                .values(phase=phase, **values)).rowcount
            if changed:
                notify(conn, job_id, phase)
        return bool(changed)

    def queue(self, job_id: str) -> bool:
        """PENDING → QUEUED (False: the job was in another phase)."""
        return self._set_phase(job_id, "QUEUED", ("PENDING",))

    def abort(self, job_id: str) -> bool:
        """PENDING, QUEUED or EXECUTING → ABORTED. A runner's later result is dropped."""
        return self._set_phase(job_id, "ABORTED", ACTIVE, ended_at=func.now())

    def set_destruction(self, job_id: str, when: datetime, max_s: float) -> None:
        """Destroy the job at ``when``, or ``max_s`` from now if that is sooner.

        Clamped by the database: a far time zone offset on year 9999 is no Python overflow.
        """
        bound = func.least(cast(when, DateTime(timezone=True)),
                           func.now() + timedelta(seconds=max_s))
        with self.engine.begin() as conn:
            conn.execute(update(uws_jobs).where(uws_jobs.c.id == job_id)
                         .values(destruction_at=bound))

    def set_duration(self, job_id: str, seconds: int) -> None:
        """Execution duration (a running job keeps the timeout it started with)."""
        with self.engine.begin() as conn:
            conn.execute(update(uws_jobs).where(uws_jobs.c.id == job_id)
                         .values(execution_duration_s=seconds))

    def delete(self, job_id: str) -> bool:
        """Remove a job, its uploads and its result (False: there was none)."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(uws_jobs).where(uws_jobs.c.id == job_id)).rowcount
            if gone:
                notify(conn, job_id, GONE)
        return bool(gone)

    # ----------------------------------------------------------------- runners
    @contextmanager
    def claim_next(self, runner: str, per_key: int) -> Iterator[Claim | None]:
        """Take the next QUEUED job for ``runner`` and hold its lock while the body runs.

        The next job is the oldest of the quota keys with the fewest EXECUTING jobs, among
        keys with fewer than ``per_key`` of them: one owner's heavy jobs cannot hold every
        runner while another's light job waits. Yields None when no job may start. The lock
        lives on a connection of its own, kept (idle) until the body ends; if unlocking
        fails the connection is discarded, which releases the lock too.
        """
        conn = self.engine.connect()
        key = None
        try:
            with conn.begin():
                # One claim at a time (every process): the running counts stay exact.
                conn.execute(select(func.pg_advisory_xact_lock(CLAIM_SPACE, 0)))
                row = conn.execute(
                    update(uws_jobs).where(uws_jobs.c.id == _next_job(per_key))
                    .values(phase="EXECUTING", started_at=func.now(), runner=runner)
                    .returning(uws_jobs.c.id, uws_jobs.c.lock_key)).first()
                if row is not None:
                    key = int(row.lock_key)
                    # Session-level: it outlives this transaction and dies with the process.
                    conn.execute(select(func.pg_advisory_lock(LOCK_SPACE, key)))
                    notify(conn, row.id, "EXECUTING")
            if row is not None:
                with conn.begin():  # out of the claim lock: uploads may be large
                    job = _job(conn.execute(_JOB.where(uws_jobs.c.id == row.id)).one())
                    files = {r.name: bytes(r.content) for r in conn.execute(
                        select(uws_job_uploads.c.name, uws_job_uploads.c.content)
                        .where(uws_job_uploads.c.job_id == row.id))}
            yield None if key is None else Claim(job, files)
        finally:
            if key is not None:
                try:
                    with conn.begin():
                        released = conn.execute(
                            select(func.pg_advisory_unlock(LOCK_SPACE, key))).scalar()
                except Exception:  # the connection is gone: so is its lock
                    released = False
                if not released:
                    conn.invalidate()
            conn.close()

    def finish(self, job_id: str, runner: str, *, result: bytes | None = None,
               media_type: str | None = None, error: str | None = None) -> bool:
        """EXECUTING → COMPLETED (``result``) or ERROR (``error``), if ``runner`` still has it.

        False when the job was aborted, deleted, destroyed or declared orphaned meanwhile:
        the outcome is then dropped.
        """
        values: dict[str, Any] = {"ended_at": func.now()}
        if error is None:
            values.update(phase="COMPLETED", result=result, result_media_type=media_type)
        else:
            values.update(phase="ERROR", error=error)
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(uws_jobs).where(uws_jobs.c.id == job_id,
                                       uws_jobs.c.phase == "EXECUTING",
                                       uws_jobs.c.runner == runner).values(**values)).rowcount
            if changed:
                notify(conn, job_id, values["phase"])
        return bool(changed)

    def recover_orphans(self, message: str) -> list[str]:
        """Turn EXECUTING jobs whose runner is gone (its lock is free) into ERROR."""
        failed = []
        with self.engine.begin() as conn:
            running = conn.execute(select(uws_jobs.c.id, uws_jobs.c.lock_key)
                                   .where(uws_jobs.c.phase == "EXECUTING")).all()
            for job_id, key in running:
                # Taken only if no runner holds it; released at the end of this transaction.
                free = conn.execute(select(func.pg_try_advisory_xact_lock(LOCK_SPACE, key))
                                    ).scalar()
                if free and self._fail(conn, job_id, message, uws_jobs.c.id == job_id):
                    failed.append(job_id)
        return failed

    def fail_running(self, runner: str, message: str) -> list[str]:
        """Turn the EXECUTING jobs of ``runner`` (a process shutting down) into ERROR."""
        with self.engine.begin() as conn:
            ids = conn.execute(select(uws_jobs.c.id).where(
                uws_jobs.c.phase == "EXECUTING", uws_jobs.c.runner == runner)).scalars().all()
            return [i for i in ids if self._fail(conn, i, message, and_(
                uws_jobs.c.id == i, uws_jobs.c.runner == runner))]

    @staticmethod
    def _fail(conn: Connection, job_id: str, message: str, where: Any) -> bool:
        changed = conn.execute(update(uws_jobs).where(where, uws_jobs.c.phase == "EXECUTING")
                               .values(phase="ERROR", error=message, ended_at=func.now())
                               ).rowcount
        if changed:
            notify(conn, job_id, "ERROR")
        return bool(changed)

    def sweep_destroyed(self) -> list[str]:
        """Remove every job past its destruction time; their ids."""
        with self.engine.begin() as conn:
            ids = list(conn.execute(delete(uws_jobs).where(~_ALIVE)
                                    .returning(uws_jobs.c.id)).scalars())
            for job_id in ids:
                notify(conn, job_id, GONE)
        return ids

    # ------------------------------------------------------------------- reads
    def get(self, job_id: str) -> Job | None:
        """The job, or None when it does not exist or is past its destruction time."""
        with self.engine.connect() as conn:
            row = conn.execute(_JOB.where(uws_jobs.c.id == job_id, _ALIVE)).first()
        return None if row is None else _job(row)

    def result(self, job_id: str) -> tuple[bytes, str] | None:
        """The result document and its media type of a COMPLETED job."""
        with self.engine.connect() as conn:
            row = conn.execute(select(uws_jobs.c.result, uws_jobs.c.result_media_type).where(
                uws_jobs.c.id == job_id, uws_jobs.c.phase == "COMPLETED", _ALIVE)).first()
        return None if row is None else (bytes(row.result), row.result_media_type)

    def listing(self, owner: str, phases: Sequence[str], after: datetime | None,
                last: int | None) -> list[Job]:
        """Jobs of ``owner`` in ``phases`` (all but ARCHIVED when empty) created after ``after``.

        Oldest first; with ``last``, the ``last`` most recent ones, newest first (UWS 1.1).
        """
        stmt = _JOB.where(_ALIVE, uws_jobs.c.owner == owner)
        stmt = stmt.where(uws_jobs.c.phase.in_(phases)) if phases else stmt.where(
            uws_jobs.c.phase != "ARCHIVED")
        if after is not None:
            stmt = stmt.where(uws_jobs.c.created_at > after)
        if last is None:
            stmt = stmt.order_by(uws_jobs.c.created_at, uws_jobs.c.id)
        else:
            stmt = stmt.order_by(uws_jobs.c.created_at.desc(), uws_jobs.c.id).limit(last)
        with self.engine.connect() as conn:
            return [_job(r) for r in conn.execute(stmt)]
