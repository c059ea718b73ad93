"""UWS 1.1 documents of TAP ``/tap/async``: the job, the job list, results, parameters.

The documents are the templates ``vo/templates/uws_*.xml`` (autoescaped, see
:mod:`vo.xmltemplates`).

Pure functions of a stored :class:`~vo.uws.storage.Job`; the jobs themselves live in the
database (``vo.uws.storage``) and run under ``vo.uws.service``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from vo.errors import VoError
from vo.uws.schema import PHASES
from vo.uws.storage import Job
from vo.xmltemplates import render

__all__ = ["PHASES", "iso_time", "job_document", "job_list", "owner_label",
           "parameters_document", "parse_time", "results_document"]


def iso_time(t: datetime | None) -> str | None:
    """``t`` as UWS writes times: ISO 8601 in UTC, to the millisecond (None stays None)."""
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def owner_label(owner: str | None) -> str | None:
    """The ownerId shown: the first 12 hex digits of the token's SHA-256 (None: anonymous).

    As ``catalog.handlers.auth`` logs a token; the whole digest would help an offline guess.
    """
    return None if owner is None else owner[:12]


def parse_time(raw: str) -> datetime:
    """An ISO 8601 time (UTC when it names no zone); 400 when it is none."""
    try:
        t = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise VoError(f"{raw!r} is not an ISO 8601 time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _params(job: Job) -> list[tuple[str, str]]:
    """The job's parameters as shown: (lower-case name, value as text)."""
    return [(k.lower(), str(v)) for k, v in job.params.items()]


def job_document(job: Job, base: str) -> str:
    """The UWS job document, its resources under ``base``."""
    return render("uws_job.xml", job=job, base=base, owner=owner_label(job.owner),
                  params=_params(job), iso=iso_time)


def job_list(jobs: list[Job], base: str) -> str:
    """The UWS job list of ``jobs``."""
    return render("uws_jobs.xml", jobs=jobs, base=base, iso=iso_time)


def results_document(job: Job, base: str) -> str:
    """The UWS results list (the job's one result, once COMPLETED)."""
    return render("uws_results.xml", job=job, base=base)


def parameters_document(job: Job) -> str:
    """The UWS parameters list of the job."""
    return render("uws_parameters.xml", params=_params(job))
