"""UWS 1.1 job list for TAP ``/tap/async``.

Jobs live in this process (a dict under a lock) and run on a small thread pool; results are
kept in memory until the job's destruction time. Running several app processes would need a
shared job store — a later step; the VO layer never writes the catalog.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from vo.errors import VoError
from vo.service import TapService

ACTIVE = ("PENDING", "QUEUED", "EXECUTING")
PHASES = ("PENDING", "QUEUED", "EXECUTING", "COMPLETED", "ERROR", "ABORTED", "UNKNOWN",
          "HELD", "SUSPENDED", "ARCHIVED")
_NS = ('xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink"'
       ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"')


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(raw: str) -> datetime:
    try:
        t = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise VoError(f"{raw!r} is not an ISO 8601 time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass
class Job:
    id: str
    params: dict[str, Any]
    files: dict[str, bytes]
    created: datetime
    destruction: datetime
    duration: int
    phase: str = "PENDING"
    run_id: str | None = None
    started: datetime | None = None
    ended: datetime | None = None
    result: bytes | None = None
    media_type: str = "application/x-votable+xml"
    error: str | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)


class JobStore:
    """Create, run, abort, list and destroy TAP jobs."""

    def __init__(self, service_factory: Any, retention_s: int, duration_s: int,
                 workers: int) -> None:
        self.service_factory = service_factory
        self.retention = timedelta(seconds=retention_s)
        self.duration = duration_s
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="uws")

    def create(self, params: dict[str, Any], files: dict[str, bytes]) -> Job:
        now = datetime.now(UTC)
        job = Job(uuid.uuid4().hex[:16], {k: v for k, v in params.items() if k != "PHASE"},
                  files, now, now + self.retention, self.duration,
                  run_id=params.get("RUNID"))
        with self.lock:
            self.jobs[job.id] = job
        if str(params.get("PHASE", "")).upper() == "RUN":
            self.run(job)
        return job

    def get(self, job_id: str) -> Job:
        self.purge()
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            from vo.errors import NotFoundError
            raise NotFoundError(f"no job {job_id}")
        return job

    def _set(self, job: Job, phase: str) -> None:
        with job.changed:
            job.phase = phase
            job.changed.notify_all()

    def run(self, job: Job) -> None:
        if job.phase != "PENDING":
            return
        self._set(job, "QUEUED")
        self.pool.submit(self._execute, job)

    def _execute(self, job: Job) -> None:
        if job.phase != "QUEUED":
            return
        job.started = datetime.now(UTC)
        self._set(job, "EXECUTING")
        service: TapService = self.service_factory()
        try:
            out = service.execute(job.params, job.files)
        except VoError as exc:
            job.error = exc.message
            phase = "ERROR"
        except Exception as exc:  # a worker must record every failure on its job
            job.error = f"internal error: {type(exc).__name__}"
            phase = "ERROR"
        else:
            job.result, job.media_type = out.body, out.media_type
            phase = "COMPLETED"
        job.ended = datetime.now(UTC)
        if job.phase == "EXECUTING":
            self._set(job, phase)

    def abort(self, job: Job) -> None:
        if job.phase in ACTIVE:
            job.ended = datetime.now(UTC)
            self._set(job, "ABORTED")

    def delete(self, job: Job) -> None:
        self.abort(job)
        with self.lock:
            self.jobs.pop(job.id, None)

    def wait(self, job: Job, seconds: float, phase: str | None) -> None:
        """UWS 1.1 blocking poll: return when the phase leaves ``phase`` or time runs out."""
        start_phase = phase or job.phase
        if start_phase not in ACTIVE or job.phase != start_phase:
            return
        with job.changed:
            job.changed.wait_for(lambda: job.phase != start_phase, timeout=max(seconds, 0))

    def purge(self) -> None:
        now = datetime.now(UTC)
        with self.lock:
            for job_id in [j.id for j in self.jobs.values() if j.destruction <= now]:
                job = self.jobs.pop(job_id)
                if job.phase in ACTIVE:
                    job.phase = "ABORTED"

    def listing(self, phases: list[str], after: datetime | None, last: int | None) -> list[Job]:
        self.purge()
        with self.lock:
            jobs = list(self.jobs.values())
        if phases:
            jobs = [j for j in jobs if j.phase in phases]
        else:
            jobs = [j for j in jobs if j.phase != "ARCHIVED"]
        if after is not None:
            jobs = [j for j in jobs if j.created > after]
        jobs.sort(key=lambda j: j.created, reverse=last is not None)
        if last is not None:
            jobs = jobs[:last]
        return jobs


def _el(tag: str, value: str | None) -> str:
    if value is None:
        return f'<uws:{tag} xsi:nil="true"/>'
    return f"<uws:{tag}>{escape(value)}</uws:{tag}>"


def job_document(job: Job, base: str) -> str:
    params = "".join(f"<uws:parameter id={quoteattr(k.lower())}>{escape(str(v))}"
                     "</uws:parameter>" for k, v in job.params.items())
    params += "".join(f"<uws:parameter id={quoteattr(k)} byReference=\"true\">"
                      f"{escape(f'{base}/{job.id}/parameters')}</uws:parameter>"
                      for k in job.files)
    results = ""
    if job.phase == "COMPLETED":
        results = (f'<uws:result id="result" xlink:type="simple" '
                   f'xlink:href={quoteattr(f"{base}/{job.id}/results/result")} '
                   f"mime-type={quoteattr(job.media_type)}/>")
    error = ""
    if job.phase == "ERROR":
        error = ('<uws:errorSummary type="fatal" hasDetail="true">'
                 f"{_el('message', job.error)}</uws:errorSummary>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<uws:job {_NS} version="1.1">{_el("jobId", job.id)}'
            f'{_el("runId", job.run_id) if job.run_id else ""}{_el("ownerId", None)}'
            f'{_el("phase", job.phase)}{_el("quote", None)}'
            f'{_el("creationTime", _iso(job.created))}{_el("startTime", _iso(job.started))}'
            f'{_el("endTime", _iso(job.ended))}'
            f'{_el("executionDuration", str(job.duration))}'
            f'{_el("destruction", _iso(job.destruction))}'
            f"<uws:parameters>{params}</uws:parameters><uws:results>{results}</uws:results>"
            f"{error}</uws:job>\n")


def job_list(jobs: list[Job], base: str) -> str:
    refs = ""
    for j in jobs:
        refs += (f'<uws:jobref id="{j.id}" xlink:href={quoteattr(f"{base}/{j.id}")}>'
                 f'{_el("phase", j.phase)}{_el("runId", j.run_id) if j.run_id else ""}'
                 f'{_el("creationTime", _iso(j.created))}</uws:jobref>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<uws:jobs {_NS} version="1.1">{refs}'
            "</uws:jobs>\n")


def results_document(job: Job, base: str) -> str:
    inner = ""
    if job.phase == "COMPLETED":
        inner = (f'<uws:result id="result" xlink:type="simple" '
                 f'xlink:href={quoteattr(f"{base}/{job.id}/results/result")}/>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<uws:results {_NS}>{inner}'
            "</uws:results>\n")


def parameters_document(job: Job) -> str:
    params = "".join(f"<uws:parameter id={quoteattr(k.lower())}>{escape(str(v))}"
                     "</uws:parameter>" for k, v in job.params.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<uws:parameters {_NS}>{params}'
            "</uws:parameters>\n")
